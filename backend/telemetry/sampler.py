"""System and per-worker resource sampling, off the GUI thread, into bounded ring buffers.

*Cores used* is the one honest parallelism figure: Δ CPU seconds of the worker's whole process
tree / Δ wall between two samples (a prefork -c 2 worker busy on CPU work shows ~2.0, a gevent
worker never more than ~1.0). Sum of task runtimes / window is **not** used: under gevent and
threads a runtime includes the time the task waited while others ran (FACTS.md).

Series kept (``history(series, seconds)``): ``"system"`` (:data:`SYSTEM_FIELDS`),
``"system.cores"`` (one column per core), ``"worker:NAME"`` and ``"process:NAME"``
(:data:`PROCESS_FIELDS`). A worker or process that is gone keeps its series until ``forget``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import psutil

from pooldesk.backend.telemetry.ring import DEFAULT_CAPACITY, Ring
from pooldesk.backend.telemetry.samples import (
    PROCESS_FIELDS,
    SYSTEM_FIELDS,
    ProcessSample,
    Snapshot,
    SystemSample,
)
from pooldesk.backend.workers.records import RecordStore
from pooldesk.backend.workers.resources import TreeSample, TreeSampler

log = logging.getLogger(__name__)

SMOOTH_SECONDS = 5.0
USS_INTERVAL = 10.0  # USS costs ~1 ms per process to read: refresh it this often, RSS always


class _CoresTracker:
    """Δcpu/Δwall for one series; restarts when the pid changes (a restarted worker)."""

    def __init__(self, smooth_seconds: float) -> None:
        self.smooth_seconds = smooth_seconds
        self.pid: int | None = None
        self.points: deque[tuple[float, float]] = deque()  # (monotonic, cpu_seconds)

    def update(self, pid: int, mono: float, cpu: float) -> tuple[float | None, float | None]:
        if pid != self.pid:
            self.pid = pid
            self.points.clear()
        prev = self.points[-1] if self.points else None
        self.points.append((mono, cpu))
        while len(self.points) > 2 and mono - self.points[1][0] >= self.smooth_seconds:
            self.points.popleft()  # keep the oldest point that still spans the window
        if prev is None:
            return None, None
        first = self.points[0]
        return _rate(prev, (mono, cpu)), _rate(first, (mono, cpu))


def _rate(a: tuple[float, float], b: tuple[float, float]) -> float | None:
    wall = b[0] - a[0]
    if wall <= 0:
        return None
    return max(0.0, (b[1] - a[1]) / wall)  # a tree losing a member may step back: clamp


class ResourceSampler:
    """Call ``sample()`` from one thread (``SamplerThread``); ``history`` from any thread."""

    def __init__(
        self,
        store: RecordStore | None = None,
        capacity: int = DEFAULT_CAPACITY,
        smooth_seconds: float = SMOOTH_SECONDS,
        uss_interval: float = USS_INTERVAL,
    ) -> None:
        self.store = store
        self.capacity = capacity
        self.smooth_seconds = smooth_seconds
        self._trees = TreeSampler(uss_max_age=uss_interval)
        self._tracked: dict[str, int] = {}
        self._cores: dict[str, _CoresTracker] = {}
        self._rings: dict[str, Ring] = {}
        self._rings_lock = threading.Lock()
        self._records: dict[str, tuple[int, Any]] = {}  # name → (mtime_ns, WorkerRecord)
        self._samples = 0
        psutil.cpu_percent(None)  # prime both system counters
        psutil.cpu_percent(None, percpu=True)

    # -- what to watch -----------------------------------------------------------------------
    def track(self, name: str, pid: int) -> None:
        """Sample any process tree too (e.g. the managed redis-server) as ``process:NAME``."""
        self._tracked[name] = pid

    def untrack(self, name: str) -> None:
        self._tracked.pop(name, None)

    def forget(self, series: str) -> None:
        """Drop a series' history (a worker the user removed)."""
        with self._rings_lock:
            self._rings.pop(series, None)
        self._cores.pop(series, None)

    # -- sampling ----------------------------------------------------------------------------
    def sample(self) -> Snapshot:
        started = time.thread_time()
        now, mono = time.time(), time.monotonic()
        system = self._system()
        self._ring("system", SYSTEM_FIELDS).push(
            now,
            system.cpu_percent,
            system.ram_used,
            system.ram_available,
            system.ram_total,
            system.swap_used,
        )
        cores_fields = tuple(f"cpu{i}" for i in range(len(system.per_cpu)))
        self._ring("system.cores", cores_fields).push(now, *system.per_cpu)
        workers: dict[str, ProcessSample] = {}
        for name, pid, create_time, meta in self._local_workers():
            tree = self._trees.sample(pid, create_time)
            if tree is not None:
                workers[name] = self._record("worker", name, pid, tree, now, mono, meta)
        processes: dict[str, ProcessSample] = {}
        for name, pid in list(self._tracked.items()):
            tree = self._trees.sample(pid)
            if tree is not None:
                processes[name] = self._record("process", name, pid, tree, now, mono, {})
        self._samples += 1
        if self._samples % 60 == 0:
            self._trees.forget_dead()
        return Snapshot(now, system, workers, processes, time.thread_time() - started)

    def _system(self) -> SystemSample:
        vm = psutil.virtual_memory()
        swap = psutil.swap_memory()
        return SystemSample(
            cpu_percent=float(psutil.cpu_percent(None)),
            per_cpu=tuple(float(v) for v in psutil.cpu_percent(None, percpu=True)),
            ram_used=int(vm.total - vm.available),  # what is not available to new work
            ram_available=int(vm.available),
            ram_total=int(vm.total),
            swap_used=int(swap.used),
            swap_total=int(swap.total),
        )

    def _local_workers(self) -> list[tuple[str, int, float | None, dict[str, Any]]]:
        """(name, Celery main pid, create time, spec facts) for each running local worker."""
        if self.store is None:
            return []
        out = []
        for name in self.store.names():
            info = self.store.pid_info(name)
            if info is None or self.store.exit_info(name) is not None:
                continue
            record = self._load_record(name)
            meta: dict[str, Any] = {}
            if record is not None:
                meta = {
                    "hostname": record.hostname,
                    "pool": record.spec.pool,
                    "concurrency": record.spec.max_concurrency,
                }
            out.append((name, info.celery_pid, info.create_time, meta))
        return out

    def _load_record(self, name: str) -> Any:
        """The worker record, re-read only when its file changed (stat is cheaper than JSON)."""
        assert self.store is not None
        try:
            mtime = (self.store.dir / f"{name}.json").stat().st_mtime_ns
        except OSError:
            return None
        cached = self._records.get(name)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        record = self.store.load(name)
        self._records[name] = (mtime, record)
        return record

    def _record(
        self,
        kind: str,
        name: str,
        pid: int,
        tree: TreeSample,
        now: float,
        mono: float,
        meta: dict[str, Any],
    ) -> ProcessSample:
        series = f"{kind}:{name}"
        tracker = self._cores.get(series)
        if tracker is None:
            tracker = self._cores[series] = _CoresTracker(self.smooth_seconds)
        cores, smooth = tracker.update(pid, mono, tree.cpu_seconds)
        sample = ProcessSample(
            name=name,
            kind=kind,
            pid=pid,
            cpu_percent=tree.cpu_percent,
            memory_bytes=tree.memory_bytes,
            rss_bytes=tree.rss_bytes,
            children=tree.children,
            open_fds=tree.open_fds,
            cpu_seconds=tree.cpu_seconds,
            cores_used=cores,
            cores_used_smooth=smooth,
            **meta,
        )
        self._ring(series, PROCESS_FIELDS).push(
            now,
            sample.cpu_percent,
            cores,
            smooth,
            sample.memory_bytes,
            sample.rss_bytes,
            sample.children,
            sample.open_fds,
            sample.cpu_seconds,
        )
        return sample

    # -- history -----------------------------------------------------------------------------
    def _ring(self, series: str, fields: tuple[str, ...]) -> Ring:
        ring = self._rings.get(series)
        if ring is None or ring.fields != fields:
            ring = Ring(fields, self.capacity)
            with self._rings_lock:
                self._rings[series] = ring
        return ring

    def series(self) -> list[str]:
        with self._rings_lock:
            return sorted(self._rings)

    def history(
        self, series: str, seconds: float | None = None, now: float | None = None
    ) -> list[tuple[float, ...]]:
        """``(timestamp, *fields)`` samples of the last ``seconds``; [] for an unknown series."""
        with self._rings_lock:
            ring = self._rings.get(series)
        return ring.window(seconds, now) if ring is not None else []

    def history_columns(
        self, series: str, seconds: float | None = None, now: float | None = None
    ) -> dict[str, list[float]]:
        """``{"t": [...], field: [...]}`` for a chart; {} for an unknown series."""
        with self._rings_lock:
            ring = self._rings.get(series)
        return ring.columns(seconds, now) if ring is not None else {}


class SamplerThread(threading.Thread):
    """Calls ``sampler.sample()`` every ``interval`` seconds and hands each Snapshot to
    ``callback`` (in this thread: a Qt adapter must only emit a signal from it).

    Never dies of an error: a failed sample or callback is logged and the loop goes on.
    ``cpu_seconds`` is this thread's own CPU time, for the "sampling costs X %" figure.
    """

    def __init__(
        self,
        sampler: ResourceSampler,
        callback: Callable[[Snapshot], None] | None = None,
        interval: float = 1.0,
    ) -> None:
        super().__init__(name="pooldesk-sampler", daemon=True)
        if interval <= 0:
            raise ValueError("interval must be > 0")
        self.sampler = sampler
        self.callback = callback
        self.interval = interval
        self.stop_event = threading.Event()
        self.cpu_seconds = 0.0
        self.wall_seconds = 0.0
        self.samples = 0
        self.errors = 0
        self.latest: Snapshot | None = None

    def run(self) -> None:
        started_wall, started_cpu = time.monotonic(), time.thread_time()
        next_at = started_wall
        while not self.stop_event.is_set():
            try:
                snapshot = self.sampler.sample()
                self.latest = snapshot
                self.samples += 1
                if self.callback is not None:
                    self.callback(snapshot)
            except Exception:
                self.errors += 1
                log.exception("resource sample failed; continuing")
            self.cpu_seconds = time.thread_time() - started_cpu
            self.wall_seconds = time.monotonic() - started_wall
            next_at += self.interval
            delay = next_at - time.monotonic()
            if delay < 0:  # fell behind (suspend, overload): skip, don't burst to catch up
                next_at, delay = time.monotonic(), 0.0
            self.stop_event.wait(delay)

    @property
    def cost(self) -> float:
        """This thread's CPU time / wall time (0.01 = 1 % of one core)."""
        return self.cpu_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)
