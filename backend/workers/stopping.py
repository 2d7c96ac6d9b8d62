"""Stopping local workers: one non-blocking owner of every stop, shared by the CLI and window.

How one worker is stopped (warm → cold → kill, the signals and their graces) is
``escalation``'s :class:`~pooldesk.backend.workers.escalation.StopSequence`; here are the stops
under way in this process and what is told about them.

Nothing here blocks. :class:`Stopper` is *asked* (:meth:`Stopper.request`) and *ticked*
(:meth:`Stopper.tick`), through ``WorkerManager.tick_stops`` and the operations API's ``tick``:
the window ticks on each refresh, so a warm stop that waits a minute for running tasks freezes
nothing and shows how long it has waited; the CLI (``Operations.run``) ticks in a loop. The
same object answers "is this worker stopping, and how far is it" (:meth:`Stopper.progress`), so
the state shown for a worker has one owner.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

from pooldesk.backend.workers.escalation import OsSystem, StopSequence, System
from pooldesk.backend.workers.records import RecordStore
from pooldesk.backend.workers.spec import WorkerSpec

Mode = Literal["warm", "cold"]
EventKind = Literal["progress", "escalated", "stopped", "failed"]

# How a stop ended (StopSequence.how), as the end of "NAME stopped (…)."
ENDINGS = {
    "warm": "after its running tasks finished",
    "cold": "without waiting; its running tasks went back to the queue",
    "killed": "killed: it did not exit on its own",
    "gone": "it had already exited",
    "soft": "by Celery's soft shutdown: tasks had up to its timeout, the rest were requeued",
}


@dataclass(frozen=True)
class StopEvent:
    """Something a tick changed, for whoever shows stops (the window's service, the CLI).

    ``progress``: the progress text changed (``text`` is the new one). ``escalated``: warm went
    cold, or cold was killed (``text``: the new progress). ``stopped``: the stop finished (``how``
    says how; ``text`` is "NAME stopped (…)."; ``then``: the spec a restart starts now).
    ``failed``: stepping raised (``text``: the error, ``error``: the exception itself, for a
    caller that words expected and unexpected errors differently); the stop is dropped.
    """

    name: str
    kind: EventKind
    text: str
    op: str = "stop"  # what asked for the stop: "stop", "restart", "resize", "fix"…
    how: str | None = None
    then: WorkerSpec | None = None
    error: Exception | None = field(default=None, compare=False)


@dataclass
class _Stop:
    op: str
    sequence: StopSequence
    then: WorkerSpec | None
    shown: str  # the last progress text reported
    phase: str  # the last phase reported


class Stopper:
    """Every stop under way in this process: request, tick, ask for progress.

    Requesting a stop writes ``stop_requested_at`` into the worker's record (so every Pooldesk
    process derives "stopping", and the supervisor does not restart it) and sends the first
    signal; ticks escalate by the timings above. A stop that has finished stays listed until
    :meth:`tick` reports it.
    """

    def __init__(
        self, store: RecordStore, stop_timeout: float = 60.0, system: System | None = None
    ) -> None:
        self.store = store
        self.stop_timeout = stop_timeout
        self.system: System = system or OsSystem()
        self._stops: dict[str, _Stop] = {}

    # -- requests ----------------------------------------------------------------------------
    def request(
        self,
        name: str,
        mode: Mode = "warm",
        then: WorkerSpec | None = None,
        *,
        op: str = "stop",
        timeout: float | None = None,
    ) -> StopSequence:
        """Ask ``name`` to stop (warm: let running tasks finish up to ``timeout``; cold: abandon
        them now) and return at once. ``then``: a spec to start once it has stopped (a restart;
        the owner of starting reads it from the ``stopped`` event).

        Already stopping: ``op``/``then`` replace the earlier ones (a plain stop cancels a
        pending restart) and ``cold`` hurries it; the signal is not sent twice.
        Raises ``KeyError`` for a worker without a record (the manager checks first).
        """
        current = self._stops.get(name)
        if current is not None and current.sequence.phase != "done":
            current.op, current.then = op, then
            if mode == "cold":
                current.sequence.hurry()
            return current.sequence
        record = self.store.load(name)
        if record is None:
            raise KeyError(name)
        record.stop_requested_at = time.time()
        self.store.save(record)
        pid = self.store.pid_info(name)
        sequence = StopSequence(
            pid.celery_pid if pid else None,
            pid.create_time if pid else None,
            record.supervisor_pid,
            timeout=self.stop_timeout if timeout is None else timeout,
            cold=mode == "cold",
            system=self.system,
            soft=record.spec.soft_shutdown_timeout or 0.0,
        ).begin()
        self._stops[name] = _Stop(op, sequence, then, sequence.describe(), sequence.phase)
        return sequence

    def hurry(self, name: str) -> bool:
        """Stop waiting for running tasks (cold now); False when ``name`` is not stopping."""
        stop = self._stops.get(name)
        if stop is None:
            return False
        stop.sequence.hurry()
        return True

    # -- ticking -----------------------------------------------------------------------------
    def tick(self) -> list[StopEvent]:
        """Advance every stop; what changed, in the order the stops were requested.

        Time is the :class:`System`'s clock (a test advances its fake clock, then ticks)."""
        events: list[StopEvent] = []
        for name, stop in list(self._stops.items()):
            try:
                done = stop.sequence.step()
            except Exception as exc:  # a stop must never take its owner's loop down
                del self._stops[name]
                text = str(exc) or type(exc).__name__
                events.append(StopEvent(name, "failed", text, stop.op, error=exc))
                continue
            if done:
                del self._stops[name]
                how = stop.sequence.how
                text = f"{name} stopped ({ENDINGS.get(how, how)})."
                events.append(StopEvent(name, "stopped", text, stop.op, how, stop.then))
                continue
            shown, phase = stop.sequence.describe(), stop.sequence.phase
            escalated = (stop.phase, phase) in (("warm", "cold"), ("soft", "cold")) or (
                stop.phase in ("soft", "cold") and stop.sequence.how == "killed"
            )
            if escalated:
                events.append(StopEvent(name, "escalated", shown, stop.op, stop.sequence.how))
            elif shown != stop.shown:
                events.append(StopEvent(name, "progress", shown, stop.op))
            stop.shown, stop.phase = shown, phase
        return events

    def run(self, name: str, poll: float = 0.05) -> StopEvent:
        """Tick until ``name`` has stopped (blocking: the CLI's way); its final event.

        Other stops under way are ticked too; their events are not returned."""
        while True:
            for event in self.tick():
                if event.name == name and event.kind in ("stopped", "failed"):
                    return event
            if name not in self._stops:  # not stopping (any more): nothing left to wait for
                ending = ENDINGS["gone"]
                return StopEvent(name, "stopped", f"{name} stopped ({ending}).", how="gone")
            self.system.sleep(poll)

    # -- queries -----------------------------------------------------------------------------
    def progress(self, name: str) -> str | None:
        """What the stop of ``name`` is doing (``waiting for tasks, 12 of 60 s``), or None."""
        stop = self._stops.get(name)
        return stop.sequence.describe() if stop is not None else None

    def stopping(self) -> dict[str, str]:
        """Stops under way: name → progress."""
        return {name: stop.sequence.describe() for name, stop in self._stops.items()}

    def op(self, name: str) -> str | None:
        """What asked for the stop of ``name`` ("stop", "restart"…), or None."""
        stop = self._stops.get(name)
        return stop.op if stop is not None else None

    def __contains__(self, name: object) -> bool:
        return name in self._stops
