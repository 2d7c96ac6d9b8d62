"""The worker lifecycle as an explicit state machine.

State is *derived* from facts on disk and on the broker (is the process alive, did we ask it to
stop, did it ever answer ``ping``, how did it exit), not stored, so every Pooldesk process (the
window, the CLI, a second window) computes the same state for the same worker.

    (none) ──start──▶ STARTING ──answers ping──▶ ONLINE ──stop requested──▶ STOPPING ──▶ STOPPED
                          │                         │                          │
                          └──exits, not asked──▶ CRASHED ◀──exits, not asked───┘ (killed/cold)
    STOPPED / CRASHED ──start/restart──▶ STARTING

The edges are checked (:class:`TransitionCheck`): each manager remembers the last state it
derived per worker and logs a warning for an edge that is not in ``TRANSITIONS``, then keeps
the *observed* state. Why not refuse it: the state is derived from facts (processes, records,
the broker), which are the truth; a window polls every 1.5 s and can legitimately miss a state
(a worker that crashes and is restarted by its supervisor between two polls goes ONLINE →
STARTING), and showing a stale state — or crashing the panel — would be worse for the person
operating the pool than a line in the log that points at either a missed state or a bug here.
"""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass
from enum import StrEnum

log = logging.getLogger(__name__)


class WorkerState(StrEnum):
    STARTING = "starting"
    ONLINE = "online"
    STOPPING = "stopping"
    STOPPED = "stopped"
    CRASHED = "crashed"
    REMOTE = "online-remote"  # another machine/installation; only broker control applies


# Which edges a person may see; anything else is a bug in the derivation below.
TRANSITIONS: dict[WorkerState, frozenset[WorkerState]] = {
    WorkerState.STARTING: frozenset(
        {WorkerState.ONLINE, WorkerState.CRASHED, WorkerState.STOPPING, WorkerState.STOPPED}
    ),
    WorkerState.ONLINE: frozenset({WorkerState.STOPPING, WorkerState.CRASHED, WorkerState.STOPPED}),
    WorkerState.STOPPING: frozenset({WorkerState.STOPPED, WorkerState.CRASHED}),
    WorkerState.STOPPED: frozenset({WorkerState.STARTING}),
    WorkerState.CRASHED: frozenset({WorkerState.STARTING}),
    WorkerState.REMOTE: frozenset(),
}


@dataclass(frozen=True)
class Facts:
    process_alive: bool  # the Celery main process (or, before it is known, its supervisor)
    stop_requested: bool
    answered_ping: bool
    exit_code: int | None  # None while running or when nobody saw it exit
    exited_seen: bool  # the supervisor recorded the exit


def derive(facts: Facts) -> WorkerState:
    if facts.process_alive:
        if facts.stop_requested:
            return WorkerState.STOPPING  # asked to stop, still finishing its tasks
        return WorkerState.ONLINE if facts.answered_ping else WorkerState.STARTING
    if facts.stop_requested:
        return WorkerState.STOPPED  # it went away because we asked
    if facts.exited_seen and facts.exit_code == 0:
        return WorkerState.STOPPED  # clean exit, e.g. a broadcast shutdown from another tool
    return WorkerState.CRASHED  # gone without being asked: non-zero exit, a signal, or unseen


def allowed(old: WorkerState | None, new: WorkerState) -> bool:
    """An edge of ``TRANSITIONS`` (or no change, or a first sighting)."""
    return old is None or old == new or new in TRANSITIONS[old]


class TransitionCheck:
    """The last derived state per worker; an edge outside ``TRANSITIONS`` is logged, not refused.

    The observed state is always returned unchanged (see the module docstring for why);
    ``illegal`` keeps the edges seen, newest last, for tests and diagnostics.
    """

    def __init__(self) -> None:
        self._last: dict[str, WorkerState] = {}
        self.illegal: list[tuple[str, WorkerState, WorkerState]] = []

    def observe(self, name: str, state: WorkerState, facts: Facts | None = None) -> WorkerState:
        old = self._last.get(name)
        if not allowed(old, state):
            assert old is not None
            self.illegal.append((name, old, state))
            del self.illegal[:-20]
            log.warning(
                "worker %s went %s → %s, which is not a transition of the state machine "
                "(a state was missed between two looks, or the derivation is wrong); facts: %s",
                name,
                old.value,
                state.value,
                facts,
            )
        self._last[name] = state
        return state

    def forget(self, name: str) -> None:
        """The worker left the list: its next sighting is a first one."""
        self._last.pop(name, None)


def describe_exit(code: int | None) -> str:
    """Popen's convention: negative = killed by that signal."""
    if code is None:
        return "exit status unknown"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
