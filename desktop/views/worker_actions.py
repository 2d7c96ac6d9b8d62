"""Which of the Workers page's actions apply to the selected worker, and what their tooltips say.

Pure (no widget): one rule for four kinds of row. This machine's workers get every action; a
fleet host's worker gets the same, run by its agent, unless the panel has no fleet key (then
they are greyed, the key's message as their tooltip); a remote Celery node (no agent of ours)
can only be stopped through the broker and resized; nothing applies to no selection.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pooldesk.backend.workers.info import WorkerInfo
from pooldesk.desktop.models.workers_model import host_of

CONTROLLABLE = ("starting", "online")
FORGETTABLE = ("stopped", "crashed")
RESIZABLE = ("online", "online-remote")
TIPS = {
    "stop": "Warm stop: finish running tasks, then exit",
    "stop-remote": "Send Celery's shutdown through the broker (asks first): running tasks finish",
    "restart": "Stop (warm) and start again with the same settings",
    "restart-remote": "Remote worker: restart it on its own machine; Pooldesk can only stop or "
    "resize it through the broker",
    "forget": "Remove a stopped or crashed worker from the list",
    "forget-remote": "Remote worker: it leaves the list by itself once it stops answering",
    "resize": "Change the concurrency: live for prefork and gevent, a restart for threads/solo",
}


@dataclass(frozen=True)
class ActionStates:
    stop: bool = False
    stop_now: bool = False
    restart: bool = False
    resize: bool = False
    forget: bool = False
    tips: dict[str, str] = field(default_factory=dict)  # stop, restart, forget, resize


def action_states(info: WorkerInfo | None, fleet_block: str) -> ActionStates:
    hosted = info is not None and bool(host_of(info))
    blocked = hosted and bool(fleet_block)  # a fleet host, and no key: watch only
    # A fleet host's worker is driven by its agent like a local one by this machine.
    local = info is not None and (not info.remote or hosted) and not blocked
    remote = info is not None and info.remote and not hosted
    state = info.state if info is not None else ""
    running = local and state in CONTROLLABLE
    tips = {}
    for key in ("stop", "restart", "forget", "resize"):
        if blocked and info is not None:
            tips[key] = f"Host {host_of(info)}: {fleet_block}"
        else:
            tips[key] = TIPS.get(f"{key}-remote" if remote else key, TIPS[key])
    return ActionStates(
        stop=running or (remote and state == "online-remote"),
        stop_now=local and state == "stopping",
        restart=running,
        resize=info is not None and state in RESIZABLE and not blocked,
        forget=local and state in FORGETTABLE,
        tips=tips,
    )
