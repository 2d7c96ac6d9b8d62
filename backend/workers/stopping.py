"""Stopping local workers: one non-blocking owner for the escalation, shared by the CLI and window.

One way to stop a worker: SIGTERM to Celery's *main process only* (warm: it finishes running
tasks; ``killpg(SIGTERM)`` would also hit prefork children and fail their tasks), bounded by the
stop timeout; then SIGQUIT (cold: abandon tasks, which go back to the queue thanks to acks_late)
for ``COLD_GRACE_S``; then SIGKILL to the whole process group so nothing is left behind. After
Celery is gone the supervisor writes the exit record and leaves by itself; it gets
``REAP_GRACE_S`` before it is killed too, and orphaned pool children are swept up.

Nothing here blocks. :class:`Stopper` is *asked* (:meth:`Stopper.request`) and *ticked*
(:meth:`Stopper.tick`), through ``WorkerManager.tick_stops`` and the operations API's ``tick``:
the window ticks on each refresh, so a warm stop that waits a minute for running tasks freezes
nothing and shows how long it has waited; the CLI (``Operations.run``) ticks in a loop. The
same object answers "is this worker stopping, and how far is it" (:meth:`Stopper.progress`), so
the state shown for a worker has one owner.

Processes and time come through :class:`System` (send a signal, is it alive, kill a group, now,
sleep) so the sequence is unit-tested with a fake clock and fake processes
(``tests/unit/test_worker_stopping.py``); :class:`OsSystem` is the real one.

The supervisor (``supervise.py``) does not escalate stops: it ignores the stop signals so that
the warm stop reaches Celery alone, and leaves when Celery has gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Literal, Protocol

import psutil

from pooldesk.backend import proc
from pooldesk.backend.workers.records import RecordStore
from pooldesk.backend.workers.spec import WorkerSpec

COLD_GRACE_S = 5.0  # after SIGQUIT, before SIGKILL to the group
REAP_GRACE_S = 5.0  # after Celery is gone, for the supervisor to record the exit and leave

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


class System(Protocol):
    """The process/clock seam: everything the stop sequence needs from the OS."""

    def now(self) -> float:
        """A monotonic clock, in seconds."""
        ...

    def sleep(self, seconds: float) -> None: ...

    def alive(self, pid: int | None, create_time: float | None = None) -> bool:
        """The process runs (and is the one created at ``create_time``, not a reused pid)."""
        ...

    def signal(self, pid: int, sig: signal.Signals) -> None:
        """Send ``sig`` to one process; a process already gone is not an error."""
        ...

    def kill_group(self, pgid: int | None) -> None:
        """SIGKILL the whole process group (the supervisor's session)."""
        ...

    def sweep_group(self, pgid: int | None) -> None:
        """Kill whatever is left in the group (orphaned pool children of a killed worker)."""
        ...


class OsSystem:
    """The real processes and the real monotonic clock."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def alive(self, pid: int | None, create_time: float | None = None) -> bool:
        return proc.alive(pid, create_time)

    def signal(self, pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)

    def kill_group(self, pgid: int | None) -> None:
        if pgid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)

    def sweep_group(self, pgid: int | None) -> None:
        if not pgid:
            return
        for p in psutil.process_iter(["pid"]):
            try:
                if os.getpgid(p.pid) == pgid:
                    self.kill_group(pgid)
                    return
            except (ProcessLookupError, PermissionError, psutil.Error):
                continue


class StopSequence:
    """Warm → cold → kill for one worker, as a small state machine that the caller steps.

    Phases: ``new`` → ``warm`` → ``cold`` → ``reap`` → ``done`` (``warm``/``cold`` are skipped
    when Celery is already gone or a cold stop was asked). ``how`` says how it ended (so far):
    ``warm``, ``cold``, ``killed`` or ``gone``.
    """

    def __init__(
        self,
        celery_pid: int | None,
        create_time: float | None,
        supervisor_pid: int | None,
        timeout: float,
        cold: bool = False,
        system: System | None = None,
        soft: float = 0.0,
    ) -> None:
        self.system: System = system or OsSystem()
        # Celery 5.5+'s soft shutdown (the worker's --soft-shutdown-timeout): SIGQUIT makes
        # the worker itself wait up to ``soft`` s for running tasks, then requeue them. Where
        # the worker has it, the stop uses that stage instead of Pooldesk's own warm wait.
        self.soft = soft if soft and soft > 0 else 0.0
        self.celery_pid, self.create_time = celery_pid, create_time
        self.supervisor_pid = supervisor_pid
        self.timeout = timeout
        self.how = "gone"
        self.phase = "new"
        self.began = self.system.now()
        self._deadline = 0.0
        self._cold_requested = cold

    # -- driving -----------------------------------------------------------------------------
    def begin(self) -> StopSequence:
        if self.celery_pid and self.system.alive(self.celery_pid, self.create_time):
            self.how = "warm"
            if self._cold_requested:
                self._go_cold()
            elif self.soft:
                self._go_soft()
            else:
                self.system.signal(self.celery_pid, signal.SIGTERM)
                self.phase, self._deadline = "warm", self.system.now() + self.timeout
        else:
            self._go_reap()
        return self

    def step(self) -> bool:
        """Advance without blocking; True once everything is gone."""
        now = self.system.now()
        if self.phase in ("warm", "soft", "cold"):
            if not self.system.alive(self.celery_pid, self.create_time):
                self._go_reap()
            elif now >= self._deadline:
                if self.phase == "warm":
                    self._go_cold()
                else:
                    self.how = "killed"
                    self.system.kill_group(self.supervisor_pid)
                    self._go_reap()
        if self.phase == "reap":
            # Both gone: a Celery killed with its group outlives its supervisor by a moment.
            celery = bool(self.celery_pid) and self.system.alive(self.celery_pid, self.create_time)
            gone = not celery and not (
                self.supervisor_pid and self.system.alive(self.supervisor_pid)
            )
            if gone or now >= self._deadline:
                if not gone:
                    self.system.kill_group(self.supervisor_pid)
                self.system.sweep_group(self.supervisor_pid)
                self.phase = "done"
        return self.phase == "done"

    def hurry(self) -> None:
        """Stop waiting for running tasks: cold now (they go back to the queue, acks_late)."""
        if self.phase == "warm":
            self._go_cold()
        elif self.phase == "soft":
            # A second SIGQUIT: Celery cancels the running tasks (requeued) and exits.
            self.how = "cold"
            if self.celery_pid:
                self.system.signal(self.celery_pid, signal.SIGQUIT)
            self.phase = "cold"
            self._deadline = min(self._deadline, self.system.now() + COLD_GRACE_S)
        elif self.phase == "new":
            self._cold_requested = True

    def wait(self, poll: float = 0.05) -> str:
        """Step until done (blocking); returns ``how``."""
        while not self.step():
            self.system.sleep(poll)
        return self.how

    # -- what a person sees ------------------------------------------------------------------
    @property
    def waited(self) -> float:
        return self.system.now() - self.began

    def describe(self) -> str:
        """``waiting for tasks, 12 of 60 s`` — the progress of a stop, short enough for a cell."""
        if self.phase == "warm":
            return f"waiting for tasks, {self.waited:.0f} of {self.timeout:.0f} s"
        if self.phase == "soft":
            return f"soft shutdown: waiting for tasks, {self.waited:.0f} of {self.soft:.0f} s"
        if self.phase == "cold":
            return "abandoning tasks (back to the queue)"
        return "cleaning up"

    # -- transitions -------------------------------------------------------------------------
    def _go_cold(self) -> None:
        self.how = "cold"
        if self.celery_pid:
            self.system.signal(self.celery_pid, signal.SIGQUIT)
        self.phase, self._deadline = "cold", self.system.now() + COLD_GRACE_S

    def _go_soft(self) -> None:
        self.how = "soft"
        if self.celery_pid:
            self.system.signal(self.celery_pid, signal.SIGQUIT)
        self.phase, self._deadline = "soft", self.system.now() + self.soft + COLD_GRACE_S

    def _go_reap(self) -> None:
        if (
            self.celery_pid is None
            and self.supervisor_pid
            and self.system.alive(self.supervisor_pid)
        ):
            self.system.kill_group(self.supervisor_pid)  # no pid record at all: nothing to ask
        self.phase, self._deadline = "reap", self.system.now() + REAP_GRACE_S


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
