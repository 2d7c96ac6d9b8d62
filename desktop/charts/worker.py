"""One worker: CPU %, memory (USS), and cores used against what its configuration promises.

The third chart tells the gevent story at a glance: the dashed line is the parallelism the
configuration claims, ``min(concurrency, cores)`` (a gevent × 20 worker on 2 cores promises 2),
the solid line the cores the process tree really used (Δ CPU time / Δ wall, smoothed over
~5 s). A CPU-bound gevent worker sits at 1.0 under a dashed 2. A gevent worker gets a fourth
chart, its event-loop lag (how late the in-worker probe's 100 ms sleep woke up, worst per
second): tasks that hold the loop show as seconds of lag.
"""

from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout, QWidget

from pooldesk.backend.telemetry.ring import Ring
from pooldesk.backend.telemetry.samples import Snapshot
from pooldesk.backend.telemetry.views import EventSnapshot
from pooldesk.backend.units import MiB, plural
from pooldesk.desktop.charts.base import COLOURS, NEUTRAL, TimeChart
from pooldesk.desktop.charts.grid import ChartGrid
from pooldesk.desktop.charts.window import History
from pooldesk.desktop.formatting import human_bytes

LIMIT_FIELDS = ("limit", "concurrency")


def worker_facts(snapshot: Snapshot | None, name: str | None) -> list[str] | None:
    """``["pid 5756", "using 0.36 of 2 cores", "USS 81.6 MiB"]`` for the charts' caption, or
    None when the worker is not in the latest sample (not running)."""
    sample = snapshot.workers.get(name) if snapshot and name else None
    if snapshot is None or sample is None:
        return None
    used = sample.cores_used_smooth
    cores = len(snapshot.system.per_cpu) or 1
    return [
        f"pid {sample.pid}",
        f"using {used:.2f} of {plural(cores, 'core')}" if used is not None else "measuring…",
        f"USS {human_bytes(sample.memory_bytes)}",
    ]


class LimitHistory:
    """Per worker ``min(concurrency, cores)`` over time, recorded from each resource Snapshot
    (the sampler's rings keep no concurrency column, and a restart may change it), and the
    gevent loop lag from the probe's ``worker-loop`` events (the sampler does not see those)."""

    def __init__(self) -> None:
        self._rings: dict[str, Ring] = {}
        self._loop: dict[str, Ring] = {}
        self._loop_seen: dict[str, float] = {}

    def record_loop(self, snapshot: EventSnapshot) -> None:
        """At most one point per worker per second (the probe reports once a second)."""
        for host, view in snapshot.workers.items():
            lag = view.loop_lag_ms_max
            if lag is None or not view.online:
                continue
            name = host.split("@", 1)[0]
            if snapshot.timestamp - self._loop_seen.get(name, 0.0) < 1.0:
                continue
            self._loop_seen[name] = snapshot.timestamp
            ring = self._loop.get(name)
            if ring is None:
                ring = self._loop[name] = Ring(("lag_ms",))
            ring.push(snapshot.timestamp, lag)

    def loop_columns(self, name: str, seconds: float) -> dict[str, list[float]]:
        ring = self._loop.get(name)
        return ring.columns(seconds) if ring is not None else {}

    def record(self, snapshot: Snapshot) -> None:
        cores = len(snapshot.system.per_cpu) or 1
        for name, sample in snapshot.workers.items():
            ring = self._rings.get(name)
            if ring is None:
                ring = self._rings[name] = Ring(LIMIT_FIELDS)
            conc = sample.concurrency
            limit = min(conc, cores) if conc else None
            ring.push(snapshot.timestamp, limit, conc)

    def columns(self, name: str, seconds: float) -> dict[str, list[float]]:
        ring = self._rings.get(name)
        return ring.columns(seconds) if ring is not None else {}


class WorkerCharts(QWidget):
    """The three charts of the selected worker, side by side."""

    def __init__(self, limits: LimitHistory, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.limits = limits
        self.name: str | None = None
        self.cores = TimeChart("Cores used", "cores")
        self.cores.add_curve(
            "used", "cores used, 5 s average", COLOURS[0], width=2.2, legend="used"
        )
        self.cores.add_curve(
            "limit",
            "promised: min(concurrency, cores)",
            NEUTRAL,
            width=1.6,
            dashed=True,
            step=True,
            legend="promised",
        )
        self.cpu = TimeChart("Worker CPU", "%")
        self.cpu.add_curve("cpu", "process tree", COLOURS[3])
        self.memory = TimeChart("Worker memory (USS)", "MiB")
        self.memory.add_curve("uss", "unique to the worker", COLOURS[1])
        self.loop = TimeChart("Event-loop lag (gevent)", "ms")
        self.loop.add_curve("lag", "worst wake-up delay each second", COLOURS[2])
        self.loop.setVisible(False)  # until the selected worker reports a loop (gevent)
        self.grid = ChartGrid(self.charts())  # reflows by width (one column when narrow)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.grid)

    def charts(self) -> list[TimeChart]:
        return [self.cores, self.cpu, self.memory, self.loop]

    def set_window(self, seconds: float) -> None:
        for chart in self.charts():
            chart.set_window(seconds)

    def set_worker(self, name: str | None) -> None:
        if name != self.name:
            self.name = name
            for chart in self.charts():
                chart.clear_series()

    def set_cores(self, cores: int) -> None:
        self.cores.set_y_range(0, cores + 0.3)
        self.cpu.set_y_range(0, cores * 100 * 1.05)

    def refresh(self, history: History, now: float) -> None:
        if not self.name:
            return
        cols = history(f"worker:{self.name}", self.cores.window_s)
        if cols:
            t = cols["t"]
            self.cores.set_series("used", t, cols["cores_used_smooth"], now)
            self.cpu.set_series("cpu", t, cols["cpu_percent"], now)
            self.memory.set_series("uss", t, [v / MiB for v in cols["memory_bytes"]], now)
        limit = self.limits.columns(self.name, self.cores.window_s)
        if limit:
            self.cores.set_series("limit", limit["t"], limit["limit"], now)
        loop = self.limits.loop_columns(self.name, self.loop.window_s)
        if self.loop.isHidden() == bool(loop):
            self.loop.setVisible(bool(loop))
            self.grid.relayout(force=True)
        if loop:
            self.loop.set_series("lag", loop["t"], loop["lag_ms"], now)
        floors = {self.memory: 16.0, self.loop: 100.0}
        for chart in self.charts():
            if chart.isVisibleTo(self) or chart is not self.loop:
                chart.finish_update(floor=floors.get(chart, 1.0))
