"""The machine: CPU (total, and each core faintly) and RAM (used and available)."""

from __future__ import annotations

from collections.abc import Callable

from pooldesk.backend.units import GiB
from pooldesk.desktop.charts.base import COLOURS, TimeChart

History = Callable[[str, float], dict[str, list[float]]]


class SystemCpuChart(TimeChart):
    def __init__(self) -> None:
        super().__init__("System CPU", "%")
        self.set_y_range(0, 105)
        self.add_curve("total", "all cores", COLOURS[0], width=2.2)
        self._cores = 0

    def refresh(self, history: History, now: float) -> None:
        total = history("system", self.window_s)
        if total:
            self.set_series("total", total["t"], total["cpu_percent"], now)
        cores = history("system.cores", self.window_s)
        names = [k for k in cores if k != "t"]
        for name in names:  # a host's cores never change: created once each
            if not self.has_curve(name):
                legend = "each core" if not self._cores else False
                self.add_curve(name, name, COLOURS[0], width=1, alpha=110, legend=legend)
                self.curve(name).setZValue(-1)  # behind the total
                self._cores += 1
        for name in names:
            self.set_series(name, cores["t"], cores[name], now)
        for name in self.curve_keys():  # another host shown, with fewer cores
            if name != "total" and name not in names:
                self.curve(name).setData([], [])
        self.finish_update()


class SystemRamChart(TimeChart):
    def __init__(self) -> None:
        super().__init__("System memory", "GiB")
        self.add_curve("used", "used", COLOURS[1], fill=True)
        self.add_curve("available", "available", COLOURS[2])
        self._total = 0.0

    def refresh(self, history: History, now: float) -> None:
        cols = history("system", self.window_s)
        if not cols:
            return
        self.set_series("used", cols["t"], [v / GiB for v in cols["ram_used"]], now)
        self.set_series("available", cols["t"], [v / GiB for v in cols["ram_available"]], now)
        if cols["ram_total"]:
            total = cols["ram_total"][-1] / GiB
            if total != self._total:
                self._total = total
                self.set_y_range(0, total * 1.05)
        self.finish_update()
