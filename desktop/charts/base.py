"""A titled time chart: curves created once, fed whole columns, x in seconds before now.

Pattern from pyqtgraph's ``examples/scrollingPlots.py``: every curve is created once; a GUI
timer hands each chart the window's columns (from the sampler's ring buffers) and the chart only
calls ``setData``, with peak downsampling and clip-to-view so an hour of 1 s samples costs no
more to draw than the pixels it covers. The x axis is "seconds before now" (``now`` is the
right edge), labelled in s/min/h; exports keep the absolute timestamps.

The legend sits in the card's header as coloured text, not over the data.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtGui import QAction, QColor, QPalette
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from pooldesk.desktop.charts.compat import pin_singletons

# Mid-tone colours that read on both a light and a dark background.
COLOURS = ("#4c8fd6", "#e8890c", "#36a852", "#a55ccf", "#d94848", "#1c9c9c", "#c2a10a")
NEUTRAL = "#8c939a"  # reference lines (what a configuration promises)
TIME_STEPS = (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)


class AgoAxis(pg.AxisItem):
    """x = seconds relative to now (≤ 0): ticks on round times, labelled "−5 min" … "now"."""

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, float]]:
        span = maxVal - minVal
        if span <= 0 or size <= 0:
            return super().tickSpacing(minVal, maxVal, size)
        wanted = span / max(2.0, size / 80)  # one label per ~80 px
        major = next((s for s in TIME_STEPS if s >= wanted), TIME_STEPS[-1])
        return [(float(major), 0.0)]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [ago_text(-v) for v in values]


def ago_text(seconds: float) -> str:
    if seconds < 0.5:
        return "now"
    if seconds < 60:
        return f"−{seconds:.0f} s"
    if seconds < 3600:
        return f"−{seconds / 60:g} min"
    return f"−{seconds / 3600:g} h"


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10^n at or above ``value`` (an axis top that stays put)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        top = step * 10.0**exponent
        if top >= value * (1 - 1e-9):
            return top
    return 10.0 ** (exponent + 1)


class TimeChart(QFrame):
    """A card: title, legend and an Export menu above a plot of a few named curves."""

    def __init__(self, title: str, y_label: str = "", parent: QWidget | None = None) -> None:
        pin_singletons()  # PySide6 6.12.0 on Python 3.11: see desktop/charts/compat.py
        super().__init__(parent)
        self.setObjectName("chartCard")
        self.title = title
        self.window_s = 300.0
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._labels: dict[str, str] = {}
        self._legend: list[tuple[str, str]] = []  # (colour, text)
        self._data: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # key → (t absolute, y)
        self._y_range: tuple[float, float | None] = (0.0, None)  # fixed max, or auto
        self._shown_x: tuple[float, float] | None = None  # what the plot shows now
        self._shown_y: tuple[float, float] | None = None

        self.title_label = QLabel(title)
        self.title_label.setObjectName("chartTitle")
        self.legend_label = QLabel()
        self.legend_label.setObjectName("chartLegend")
        # A long legend must not set the chart's minimum width (it widened the Overview until
        # it scrolled sideways): it is clipped, and its tooltip has it whole.
        self.legend_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.title_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setAccessibleName(f"Chart: {title}")
        self.export_button = QToolButton()
        self.export_button.setText("Export")
        self.export_button.setAutoRaise(True)
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        self.png_action = QAction("Image (PNG)…", self)
        self.csv_action = QAction("Data (CSV)…", self)
        menu.addActions([self.png_action, self.csv_action])
        self.export_button.setMenu(menu)
        self.png_action.triggered.connect(self.ask_export_png)
        self.csv_action.triggered.connect(self.ask_export_csv)

        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.title_label)
        header.addSpacing(8)
        header.addWidget(self.legend_label, 1)
        header.addWidget(self.export_button)

        self.plot = pg.PlotWidget(axisItems={"bottom": AgoAxis("bottom")})
        self.plot.setMinimumHeight(110)
        item = self.plot.getPlotItem()
        item.setDownsampling(auto=True, mode="peak")
        item.setClipToView(True)
        item.setMenuEnabled(False)
        item.hideButtons()
        item.showGrid(x=True, y=True, alpha=0.12)
        item.getViewBox().setMouseEnabled(x=False, y=False)
        if y_label:
            item.setLabel("left", y_label)
        item.getAxis("left").setWidth(46)
        self.plot.setXRange(-self.window_s, 0, padding=0)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(2)
        layout.addLayout(header)
        layout.addWidget(self.plot, 1)
        self._apply_palette()

    def _crisp(self) -> bool:
        """Antialiased lines on a HiDPI screen (ratio ≥ 1.5), where jagged 1-px steps show
        and the peak-downsampled curves keep the cost small; plain lines elsewhere."""
        screen = self.screen()
        return screen is not None and screen.devicePixelRatio() >= 1.5

    def sizeHint(self) -> QSize:
        # pyqtgraph's views ask for ~480 px each; in a scroll area that would push the second
        # row of charts off screen. Ask for a modest size and let the layout stretch it.
        return QSize(360, 220)

    # -- curves (created once) ---------------------------------------------------------------
    def add_curve(
        self,
        key: str,
        label: str,
        colour: str,
        width: float = 2.0,
        dashed: bool = False,
        alpha: int = 255,
        step: bool = False,
        legend: bool | str = True,
        fill: bool = False,
    ) -> pg.PlotDataItem:
        if key in self._curves:
            return self._curves[key]
        qcolour = QColor(colour)
        qcolour.setAlpha(alpha)
        pen = pg.mkPen(qcolour, width=width)
        if dashed:
            pen.setStyle(Qt.PenStyle.DashLine)
        curve = self.plot.plot(
            [], [], pen=pen, connect="finite", stepMode="left" if step else None,
            antialias=self._crisp(),
        )  # fmt: skip
        if fill:
            shade = QColor(colour)
            shade.setAlpha(40)
            curve.setFillLevel(0)
            curve.setFillBrush(shade)
        self._curves[key] = curve
        self._labels[key] = label
        if legend:
            swatch = qcolour.name(
                QColor.NameFormat.HexArgb if alpha < 255 else QColor.NameFormat.HexRgb
            )
            self._legend.append((swatch, legend if isinstance(legend, str) else label))
            self._update_legend()
            if isinstance(legend, str) and legend != label:  # the short legend, explained
                tips = [t for t in self.legend_label.toolTip().split("\n") if t]
                self.legend_label.setToolTip("\n".join([*tips, f"{legend}: {label}"]))
        return curve

    def has_curve(self, key: str) -> bool:
        return key in self._curves

    def curve(self, key: str) -> pg.PlotDataItem:
        return self._curves[key]

    def curve_keys(self) -> list[str]:
        return list(self._curves)

    def set_series(
        self, key: str, t: Sequence[float], y: Sequence[float], now: float | None = None
    ) -> None:
        """Show samples at absolute times ``t`` (epoch seconds) on the seconds-ago axis."""
        now = time.time() if now is None else now
        ta = np.asarray(t, dtype=float)
        ya = np.asarray(y, dtype=float)
        self._data[key] = (ta, ya)
        self._curves[key].setData(ta - now, ya, connect="finite")

    def clear_series(self) -> None:
        for key, curve in self._curves.items():
            curve.setData([], [])
            self._data.pop(key, None)

    def set_y_range(self, low: float, high: float | None) -> None:
        """A fixed range, or ``high=None``: from ``low`` to a little above the largest value."""
        self._y_range = (low, high)

    def set_window(self, seconds: float) -> None:
        self.window_s = float(seconds)
        self.plot.setXRange(-self.window_s, 0, padding=0)
        self._shown_x = (-self.window_s, 0.0)

    def finish_update(self, floor: float = 1.0) -> None:
        """After a round of ``set_series``: pin the x range, fit y (autoscale never jumps
        because of an old peak that has scrolled out of the window).

        The top is rounded up to a 1-2-5 step and ranges are only set when they change: each
        change re-lays-out and repaints the axes, measured as the window's largest stalls
        (``bench/gui_responsiveness.py``) when done on every 500 ms refresh."""
        x_range = (-self.window_s, 0.0)
        if x_range != self._shown_x:
            self.plot.setXRange(*x_range, padding=0)
            self._shown_x = x_range
        low, high = self._y_range
        if high is None:
            cutoff = time.time() - self.window_s
            peak = 0.0
            for t, y in self._data.values():
                visible = y[(t >= cutoff) & np.isfinite(y)]
                if visible.size:
                    peak = max(peak, float(visible.max()))
            high = nice_ceiling(max(floor, peak * 1.15))
        if (low, high) != self._shown_y:
            self.plot.setYRange(low, high, padding=0)
            self._shown_y = (low, high)

    # -- export ------------------------------------------------------------------------------
    def table(self) -> tuple[list[str], list[list[str]]]:
        """The samples in the window as one table: a row per timestamp, a column per curve."""
        cutoff = time.time() - self.window_s
        keys = [k for k in self._curves if k in self._data]
        values: dict[float, dict[str, float]] = {}
        for key in keys:
            t, y = self._data[key]
            for ts, v in zip(t.tolist(), y.tolist(), strict=True):
                if ts >= cutoff:
                    values.setdefault(ts, {})[key] = v
        header = ["timestamp", "time", *(self._labels[k] for k in keys)]
        rows = []
        for ts in sorted(values):
            row = [f"{ts:.3f}", datetime.fromtimestamp(ts).isoformat(timespec="seconds")]
            for key in keys:
                v = values[ts].get(key)
                row.append("" if v is None or math.isnan(v) else f"{v:.6g}")
            rows.append(row)
        return header, rows

    def export_csv(self, path: str | Path) -> int:
        header, rows = self.table()
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)
        return len(rows)

    def export_png(self, path: str | Path) -> bool:
        return self.grab().save(str(path), "PNG")

    def _default_name(self, suffix: str) -> str:
        stem = "".join(c if c.isalnum() else "-" for c in self.title.lower()).strip("-")
        return f"{stem}-{datetime.now():%Y%m%d-%H%M%S}.{suffix}"

    def ask_export_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export chart image", self._default_name("png"), "PNG image (*.png)"
        )
        if path:
            self.export_png(path)

    def ask_export_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export chart data", self._default_name("csv"), "CSV file (*.csv)"
        )
        if path:
            self.export_csv(path)

    # -- looks -------------------------------------------------------------------------------
    def _update_legend(self) -> None:
        parts = [
            f'<span style="color:{colour}">&#9632;</span>&nbsp;{text}'
            for colour, text in self._legend
        ]
        self.legend_label.setText("&nbsp;&nbsp;&nbsp;".join(parts))

    def _apply_palette(self) -> None:
        palette = self.palette()
        self.plot.setBackground(palette.color(QPalette.ColorRole.Base))
        text = palette.color(QPalette.ColorRole.Text)
        for name in ("left", "bottom"):
            axis = self.plot.getPlotItem().getAxis(name)
            axis.setPen(pg.mkPen(palette.color(QPalette.ColorRole.Mid)))
            axis.setTextPen(pg.mkPen(text))

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()
        super().changeEvent(event)
