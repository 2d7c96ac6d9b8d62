"""The stop escalation of one worker: which signal goes to which process, and when.

One way to stop a worker: SIGTERM to Celery's *main process only* (warm: it finishes running
tasks; ``killpg(SIGTERM)`` would also hit prefork children and fail their tasks), bounded by the
stop timeout; then SIGQUIT (cold: abandon tasks, which go back to the queue thanks to acks_late)
for ``COLD_GRACE_S``; then SIGKILL to the whole process group so nothing is left behind. After
Celery is gone the supervisor writes the exit record and leaves by itself; it gets
``REAP_GRACE_S`` before it is killed too, and orphaned pool children are swept up.

Why apart from ``stopping`` (every stop under way, its requests, ticks and events): this is the
sequence alone, a small state machine stepped without blocking, and the process/clock seam it
runs on. Processes and time come through :class:`System` (send a signal, is it alive, kill a
group, now, sleep) so the sequence is unit-tested with a fake clock and fake processes
(``tests/unit/test_worker_stopping.py``); :class:`OsSystem` is the real one.

The supervisor (``supervise.py``) does not escalate stops: it ignores the stop signals so that
the warm stop reaches Celery alone, and leaves when Celery has gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import Protocol

import psutil

from pooldesk.backend import proc

COLD_GRACE_S = 5.0  # after SIGQUIT, before SIGKILL to the group
REAP_GRACE_S = 5.0  # after Celery is gone, for the supervisor to record the exit and leave


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
