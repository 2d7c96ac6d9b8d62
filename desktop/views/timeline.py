"""A timeline of task runs: each run a bar on its worker's process over time.

Under prefork each pool process is its own row, so CPU-bound chunks show *side by side*. Under
gevent every run shares one process and one loop: the bars overlap (the pool accepted them all),
but the dark part of each bar — the longest stretch it held the loop without yielding, measured
by the in-worker probe — never overlaps another's: *one after another* at a glance. Runs seen
only in task events (a worker without the probe, a run still going) have no dark part, and sit
on a per-worker row: Celery's own events do not say which process ran them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from pooldesk.backend.telemetry.views import Span
from pooldesk.backend.units import plural

TimelineSource = Callable[[], list[Span]]
LABEL_W = 170
LANE_H = 12
ROW_MIN_H = 16  # room for the row's label
ROW_GAP = 8
AXIS_H = 18
MAX_LANES = 48  # per row; more runs at once than this are drawn on the last lane
THIN_AFTER = 12  # lanes: a row with more draws thinner bars, so each run keeps its own lane
STATE_COLOURS = {"SUCCESS": "#2e7d32", "FAILURE": "#c62828", "STARTED": "#1565c0"}


def lanes(spans: list[Span], now: float) -> dict[tuple[str, int | None], list[list[Span]]]:
    """Rows (worker host, process) → lanes of non-overlapping runs, oldest first."""
    rows: dict[tuple[str, int | None], list[list[Span]]] = {}
    for span in sorted(spans, key=lambda s: s.started):
        row = rows.setdefault((span.hostname, span.pid if span.hold_s is not None else None), [])
        for lane in row:
            last = lane[-1]
            if (last.ended or now) <= span.started:
                lane.append(span)
                break
        else:
            if len(row) < MAX_LANES:
                row.append([span])
            else:
                row[-1].append(span)
    return dict(sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)))


def _lane_h(row: list[list[Span]]) -> float:
    """Full height up to THIN_AFTER lanes; then the row keeps that height, bars thinner (a
    gevent worker's many runs at once piled up on one lane, bars over bars)."""
    return LANE_H if len(row) <= THIN_AFTER else max(3.0, LANE_H * THIN_AFTER / len(row))


def _row_h(row: list[list[Span]]) -> int:
    return max(ROW_MIN_H, int(len(row) * _lane_h(row) + 0.999))


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """How many intervals were open at once, at most."""
    edges = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    best = depth = 0
    for _, step in edges:
        depth += step
        best = max(best, depth)
    return best


def summary(spans: list[Span], now: float) -> str:
    if not spans:
        return "no run seen yet"
    runs = [(s.started, s.ended or now) for s in spans]
    held = [
        (s.hold_max_at, s.hold_max_at + s.hold_max_s)
        for s in spans
        if s.hold_max_at is not None and s.hold_max_s and s.hold_max_s >= 0.05
    ]
    procs = {(s.hostname, s.pid) for s in spans if s.hold_s is not None}
    text = plural(len(spans), "run")
    if procs:
        text += f" on {plural(len(procs), 'process', 'processes')}"
    text += f"; at most {max_overlap(runs):,} running at once"
    if held:
        text += f", at most {max_overlap(held)} holding an event loop at once"
    return text


class TimelineWidget(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spans: list[Span] = []
        self.now = time.time()
        self.setMinimumHeight(80)

    def set_spans(self, spans: list[Span], now: float | None = None) -> None:
        self.spans = list(spans)
        self.now = time.time() if now is None else now
        rows = lanes(self.spans, self.now)
        height = AXIS_H + sum(_row_h(r) + ROW_GAP for r in rows.values()) + 4
        self.setMinimumHeight(max(80, height))
        self.setToolTip(summary(self.spans, self.now))
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        text_colour = self.palette().text().color()
        if not self.spans:
            painter.setPen(text_colour)
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No run seen yet.")
            return
        t0 = min(s.started for s in self.spans)
        t1 = max(max((s.ended or self.now) for s in self.spans), t0 + 0.5)
        width = max(1.0, self.width() - LABEL_W - 8)

        def x(t: float) -> float:
            return LABEL_W + (t - t0) / (t1 - t0) * width

        self._axis(painter, t0, t1, x, text_colour)
        y = AXIS_H
        for (host, pid), row in lanes(self.spans, self.now).items():
            name = host.split("@", 1)[0]
            # Celery's events do not say which process ran a task: only the probe does.
            label = f"{name} · pid {pid}" if pid is not None else f"{name} · pid unknown"
            painter.setPen(text_colour)
            rect = QRectF(4, y, LABEL_W - 8, _row_h(row))
            label = painter.fontMetrics().elidedText(
                label, Qt.TextElideMode.ElideMiddle, int(rect.width())
            )
            painter.drawText(
                rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, label
            )
            lane_h = _lane_h(row)
            for i, lane in enumerate(row):
                top = y + i * lane_h + 1
                for span in lane:
                    self._bar(painter, span, x, top, lane_h)
            y += _row_h(row) + ROW_GAP
        painter.end()

    def _bar(
        self,
        painter: QPainter,
        span: Span,
        x: Callable[[float], float],
        top: float,
        lane_h: float = LANE_H,
    ) -> None:
        colour = QColor(STATE_COLOURS.get(span.state or "", "#607d8b"))
        left, right = x(span.started), x(span.ended or self.now)
        light = QColor(colour)
        light.setAlpha(90)
        bar_h = max(2.0, lane_h - 2)
        painter.fillRect(QRectF(left, top, max(1.5, right - left), bar_h), light)
        if span.hold_max_at is not None and span.hold_max_s:
            a, b = x(span.hold_max_at), x(span.hold_max_at + span.hold_max_s)
            painter.fillRect(QRectF(a, top, max(1.5, b - a), bar_h), colour)
        elif span.hold_s is not None:  # prefork, solo: the whole run held its process
            painter.fillRect(QRectF(left, top, max(1.5, right - left), bar_h), colour)

    def _axis(
        self,
        painter: QPainter,
        t0: float,
        t1: float,
        x: Callable[[float], float],
        colour: QColor,
    ) -> None:
        span = t1 - t0
        step = next(
            (s for s in (0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 300, 600) if span / s <= 8), 1800
        )
        pen = QPen(colour)
        pen.setWidthF(0.5)
        painter.setPen(pen)
        t = 0.0
        while t <= span + 1e-9:
            px = x(t0 + t)
            painter.drawLine(int(px), AXIS_H - 4, int(px), self.height())
            painter.drawText(int(px) + 2, AXIS_H - 6, f"{t:g} s")
            t += step


class TimelineDialog(QDialog):
    """The recent runs of one queue — any group of a user's tasks — refreshed every second
    while open. ``source()`` returns the spans (read from the event monitor, any thread)."""

    def __init__(self, title: str, source: TimelineSource, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.source = source
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.timeline = TimelineWidget()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.timeline)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.buttons.rejected.connect(self.reject)  # Close is the reject role
        layout = QVBoxLayout(self)
        layout.addWidget(self.caption)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.buttons)
        self.resize(900, 360)
        self.timer = QTimer(self)
        self.timer.setInterval(1000)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        self.refresh()

    def refresh(self) -> None:
        spans = self.source()
        now = time.time()
        self.timeline.set_spans(spans, now)
        self.caption.setText(summary(spans, now))

    def done(self, result: int) -> None:
        self.timer.stop()
        super().done(result)
