"""Re-syncing ``EventState`` from remote control instead of trusting a broken event stream.

Redis delivers events by pub/sub: whatever was published while the receiver was stalled or
disconnected is gone, and a receiver that fell behind may never catch up (FACTS.md). So after a
reconnect or a stall the monitor asks the workers directly: ``stats()`` (who is there, how many
tasks each has processed) and ``active()`` (what runs now), then asks the result backend how the
tasks we were following but that no longer run ended. Runs in the monitor's thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pooldesk.backend.telemetry.eventparts import ENDED, UNKNOWN_QUEUE
from pooldesk.backend.telemetry.eventstate import EventState

MAX_LOOKUPS = 10_000  # tasks whose outcome we ask the result backend for, newest first

Fetch = Callable[[list[str]], Mapping[str, str]]  # task ids → Celery state


def resync(
    state: EventState,
    stats: Mapping[str, Any] | None,
    active: Mapping[str, Any] | None,
    now: float,
    reason: str,
    fetch: Fetch | None = None,
) -> None:
    """Fold ``inspect().stats()`` and ``inspect().active()`` replies into the state.

    A worker that did not answer is left as it was (a blocked gevent worker replies late: that
    is slowness, not absence); the heartbeat rule still takes it offline if it is gone.
    """
    stats = stats or {}
    active = active or {}
    for host, info in stats.items():
        worker = state._worker(host)
        total = info.get("total") if isinstance(info, dict) else None
        processed = sum(int(v) for v in total.values()) if isinstance(total, dict) else 0
        pid = info.get("pid") if isinstance(info, dict) else None
        if pid and worker.pid and pid != worker.pid:
            worker.new_life(processed)  # restarted under the same name while we were away
        worker.pid = pid or worker.pid
        worker.reported = max(worker.reported, processed)
        worker.online, worker.last_seen, worker.left = True, now, False
    running: set[str] = set()
    for host, requests in active.items():
        worker = state._worker(host)
        worker.online, worker.last_seen = True, now
        for request in requests or []:
            task_id = request.get("id") if isinstance(request, dict) else None
            if not task_id:
                continue
            running.add(task_id)
            task = state._task(task_id)
            task.name = request.get("name") or task.name
            routing_key = (request.get("delivery_info") or {}).get("routing_key")
            if routing_key and task.queue == UNKNOWN_QUEUE:
                state._set_queue(task, routing_key)
            if task.state == "STARTED" and task.hostname != host:
                state._unstart(task)  # we had it on another worker: a redelivery
                task.state = "RECEIVED"
            if task.state != "STARTED" and (task.state not in ENDED or task.state == "UNKNOWN"):
                task.hostname = host
                state._start(task, float(request.get("time_start") or now), count_wait=False)

    unresolved = [
        t.id
        for t in reversed(state.tasks.values())
        if t.state is not None and t.state not in ENDED and t.id not in running
    ][:MAX_LOOKUPS]
    outcomes: Mapping[str, str] = {}
    if fetch is not None and unresolved:
        outcomes = fetch(unresolved)
    for task_id, outcome in outcomes.items():
        found = state.tasks.get(task_id)
        known = found is not None and found.state not in ENDED
        if known and outcome in ("SUCCESS", "FAILURE", "REVOKED"):
            assert found is not None
            state._finish(found, outcome, now, None, timed=False)
    answered = set(active)
    for task in list(state.tasks.values()):
        if task.state == "STARTED" and task.hostname in answered and task.id not in running:
            state._finish(task, "UNKNOWN", now, None, timed=False)  # gone, outcome not known
    for host, requests in active.items():
        if host in state.workers:
            state.workers[host].active = len(requests or [])
    state._dirty_workers.update(set(stats) | answered)
    state.resyncs += 1
    state.last_resync_at = now
    state.last_resync_reason = reason
    state.resync_wanted = None
    state.touch()
