"""Folding the in-worker probe's ``worker-fit`` events into per-worker task measurements.

Each process that runs tasks (a prefork child, a gevent or solo worker's main process) sends
its *cumulative* totals per (task, queue) about once a second (``_pooldesk_fit``). So the fold
keeps the latest event per (worker, pid) and sums over pids: a lost or late event costs nothing,
and memory is bounded by workers × processes × pairs, never by the number of tasks. A worker
that comes online again starts from zero (its new processes report from zero).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

FIT_EVENT = "worker-fit"
MAX_PIDS = 256  # per worker (prefork children recycled by max-tasks-per-child come and go)
MAX_PAIRS = 200  # per process, as the probe caps them
MAX_RUNS = 5_000  # recent runs kept per worker for the timeline
MAX_HOSTS = 200  # workers measured at once; the longest silent is forgotten first
_NUMBERS = ("wall_s", "own_wall_s", "cpu_s", "demand_s", "hold_s")
_MAXIMA = ("hold_max_s", "wall_max_s")


@dataclass(frozen=True)
class TaskFit:
    """Measured totals of one task name on one queue of one worker."""

    task: str
    queue: str
    pool: str  # the pool that ran it: gevent, prefork, threads, solo
    runs: int
    wall_s: float
    cpu_s: float
    demand_s: float  # CPU used plus time spent waiting for a core (= cpu_s where unknown)
    hold_s: float  # gevent: time its greenlets held the loop without yielding; 0 elsewhere
    hold_max_s: float  # the longest single stretch
    wall_max_s: float
    declared: str | None = None  # the task's own ``nature=`` option
    # gevent: wall less the time other tasks held the loop while it was away; = wall elsewhere
    own_wall_s: float = 0.0
    # runs no other task's hold disturbed: (runs, wall, demand, hold) — exact shares
    quiet: tuple[int, float, float, float] | None = None


@dataclass(frozen=True)
class WorkerFit:
    hostname: str
    pool: str
    processes: int  # processes that reported
    tasks: tuple[TaskFit, ...]
    received_at: float  # the newest event's local time


class FitFold:
    def __init__(self) -> None:
        # host → pid → (received_at, pool, [task dicts])
        self._hosts: dict[str, OrderedDict[int, tuple[float, str, list[dict[str, Any]]]]] = {}
        self._views: dict[str, WorkerFit] = {}
        self._dirty: set[str] = set()
        # host → recent runs: (task id, queue, pid, start, wall, hold, hold max, its offset)
        self.runs: dict[str, deque[tuple[str, str, int, float, float, float, float, float]]] = {}

    def apply(self, host: str, event: Mapping[str, Any], now: float) -> None:
        tasks = event.get("tasks")
        pid = event.get("pid")
        if not isinstance(tasks, list) or not isinstance(pid, int):
            return
        pool = str(event.get("pool") or "?")
        if host not in self._hosts and len(self._hosts) >= MAX_HOSTS:
            self.forget(min(self._hosts, key=lambda h: max(p[0] for p in self._hosts[h].values())))
        procs = self._hosts.setdefault(host, OrderedDict())
        procs[pid] = (now, pool, [t for t in tasks[:MAX_PAIRS] if isinstance(t, dict)])
        runs = event.get("runs")
        if isinstance(runs, list) and runs:
            kept = self.runs.get(host)
            if kept is None:
                kept = self.runs[host] = deque(maxlen=MAX_RUNS)
            for run in runs[:MAX_PAIRS]:
                if isinstance(run, list) and len(run) == 7:
                    task_id, queue, *numbers = run
                    kept.append((str(task_id), str(queue), pid, *(_float(v) for v in numbers)))  # type: ignore[arg-type]
        procs.move_to_end(pid)
        while len(procs) > MAX_PIDS:
            procs.popitem(last=False)
        self._dirty.add(host)

    def forget(self, host: str) -> None:
        """The worker started again: its old processes' totals describe an older life."""
        if self._hosts.pop(host, None) is not None:
            self._views.pop(host, None)
            self._dirty.discard(host)
        self.runs.pop(host, None)

    def drop_missing(self, hosts: set[str]) -> None:
        for host in [h for h in self._hosts if h not in hosts]:
            self.forget(host)

    def views(self) -> Mapping[str, WorkerFit]:
        for host in self._dirty:
            procs = self._hosts.get(host)
            if procs:
                self._views[host] = _fold(host, procs)
        self._dirty.clear()
        return MappingProxyType(dict(self._views))


def _fold(host: str, procs: Mapping[int, tuple[float, str, list[dict[str, Any]]]]) -> WorkerFit:
    sums: dict[tuple[str, str], dict[str, Any]] = {}
    pools: dict[str, int] = {}
    newest = 0.0
    for received, pool, tasks in procs.values():
        newest = max(newest, received)
        pools[pool] = pools.get(pool, 0) + 1
        for item in tasks:
            key = (str(item.get("task") or "?"), str(item.get("queue") or "(unknown)"))
            acc = sums.setdefault(key, {"runs": 0, "pool": pool, "declared": None})
            acc["runs"] += _int(item.get("runs"))
            for name in _NUMBERS:
                acc[name] = acc.get(name, 0.0) + _float(item.get(name))
            for name in _MAXIMA:
                acc[name] = max(acc.get(name, 0.0), _float(item.get(name)))
            quiet = item.get("quiet")
            if isinstance(quiet, list) and len(quiet) == 4:
                old = acc.get("quiet") or (0, 0.0, 0.0, 0.0)
                acc["quiet"] = (
                    old[0] + _int(quiet[0]),
                    *(a + _float(b) for a, b in zip(old[1:], quiet[1:], strict=True)),
                )
            declared = item.get("declared")
            if isinstance(declared, str):
                acc["declared"] = declared
    tasks_out = tuple(
        TaskFit(
            task=task,
            queue=queue,
            pool=acc["pool"],
            runs=acc["runs"],
            wall_s=acc.get("wall_s", 0.0),
            cpu_s=acc.get("cpu_s", 0.0),
            demand_s=acc.get("demand_s", 0.0) or acc.get("cpu_s", 0.0),
            hold_s=acc.get("hold_s", 0.0),
            hold_max_s=acc.get("hold_max_s", 0.0),
            wall_max_s=acc.get("wall_max_s", 0.0),
            declared=acc["declared"],
            own_wall_s=acc.get("own_wall_s", 0.0) or acc.get("wall_s", 0.0),
            quiet=acc.get("quiet"),
        )
        for (task, queue), acc in sorted(sums.items())
        if acc["runs"] > 0
    )
    pool = max(pools, key=lambda p: pools[p]) if pools else "?"
    return WorkerFit(host, pool, len(procs), tasks_out, newest)


def _int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def _float(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return 0.0
    return out if out >= 0 and out == out else 0.0
