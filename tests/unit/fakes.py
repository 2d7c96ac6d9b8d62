"""Fakes for the process/clock seam of ``pooldesk.backend.workers.escalation`` (no real process,
no sleep).

:class:`FakeSystem` is a clock that only moves when a test (or a blocking ``run``) sleeps, and a
table of pretend processes: Celery's main process (pid 200) in the process group of its
supervisor (pid 100). Each process is told how it reacts to a signal (exit after N seconds, or
ignore it), and whether the supervisor leaves on its own once Celery has gone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from signal import Signals

from pooldesk.backend.workers.records import PidInfo, RecordStore, WorkerRecord
from pooldesk.backend.workers.spec import WorkerSpec

SUPERVISOR, CELERY = 100, 200
CREATED = 1234.5


@dataclass
class FakeProcess:
    pgid: int
    alive: bool = True
    exits_after: dict[Signals, float] = field(default_factory=dict)  # signal → delay
    dies_at: float | None = None


class FakeSystem:
    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self.procs: dict[int, FakeProcess] = {}
        self.sent: list[tuple[int, Signals]] = []
        self.killed_groups: list[int] = []
        self.swept: list[int] = []
        self.supervisor_follows: float | None = 0.5  # leaves this long after Celery; None: never

    # -- the pretend processes ---------------------------------------------------------------
    def worker(
        self,
        celery: bool = True,
        supervisor: bool = True,
        exits_after: dict[Signals, float] | None = None,
    ) -> None:
        """A supervisor (100) and its Celery (200); ``exits_after``: how Celery reacts."""
        if supervisor:
            self.procs[SUPERVISOR] = FakeProcess(SUPERVISOR)
        if celery:
            self.procs[CELERY] = FakeProcess(SUPERVISOR, exits_after=dict(exits_after or {}))

    def advance(self, seconds: float) -> None:
        self.t += seconds
        self._settle()

    def _settle(self) -> None:
        for pid, p in list(self.procs.items()):
            if p.alive and p.dies_at is not None and p.dies_at <= self.t:
                self._die(pid, p.dies_at)

    def _die(self, pid: int, at: float) -> None:
        self.procs[pid].alive = False
        sup = self.procs.get(SUPERVISOR)
        if pid == CELERY and sup is not None and sup.alive and self.supervisor_follows is not None:
            sup.dies_at = at + self.supervisor_follows
            self._settle()

    # -- System ------------------------------------------------------------------------------
    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def alive(self, pid: int | None, create_time: float | None = None) -> bool:
        p = self.procs.get(pid or 0)
        return p is not None and p.alive

    def signal(self, pid: int, sig: Signals) -> None:
        self.sent.append((pid, sig))
        p = self.procs.get(pid)
        if p is None or not p.alive or sig not in p.exits_after:
            return
        when = self.t + p.exits_after[sig]
        p.dies_at = when if p.dies_at is None else min(p.dies_at, when)
        self._settle()

    def kill_group(self, pgid: int | None) -> None:
        if not pgid:
            return
        self.killed_groups.append(pgid)
        for p in self.procs.values():
            if p.pgid == pgid:
                p.alive = False

    def sweep_group(self, pgid: int | None) -> None:
        if pgid:
            self.swept.append(pgid)

    @property
    def signals(self) -> list[Signals]:
        return [sig for _, sig in self.sent]


def store_with_worker(
    directory: Path, name: str = "w1", celery: bool = True, supervisor: bool = True
) -> RecordStore:
    """A record store holding one worker's record (and Celery's pid file, if ``celery``)."""
    directory.mkdir(parents=True, exist_ok=True)
    store = RecordStore(directory)
    store.save(
        WorkerRecord(
            spec=WorkerSpec(name),
            hostname=f"{name}@here",
            supervisor_pid=SUPERVISOR if supervisor else None,
            supervisor_create_time=CREATED,
            started_at=1.0,
        )
    )
    if celery:
        store.write_pid(name, PidInfo(CELERY, CREATED, SUPERVISOR, started_at=1.0))
    return store
