"""Charts in a grid that reflows with the width: three side by side on a desktop, one above
the other on a 1024-px laptop, so the Overview never scrolls sideways (issue 21: at 1366 px
its third chart was off screen)."""

from __future__ import annotations

from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QGridLayout, QWidget

CHART_MIN_WIDTH = 340  # a chart narrower than this reads as a smear of ticks
CHART_MIN_HEIGHT = 210  # in a scrolling page the charts get their minimum: keep them readable
ONE_COLUMN_BELOW = 900  # the page is one column under this width (1024 × 640 screens)


def columns_for(width: int, count: int) -> int:
    """How many charts side by side at ``width`` px."""
    if width < ONE_COLUMN_BELOW or count <= 1:
        return 1
    widest = max(1, min(count, width // CHART_MIN_WIDTH))
    rows = -(-count // widest)
    return -(-count // rows)  # balanced: four charts as 2 × 2, not 3 + 1


class ChartGrid(QWidget):
    def __init__(self, charts: list[QWidget], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.charts = list(charts)
        self.columns = 0
        self._layout = QGridLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setHorizontalSpacing(8)
        self._layout.setVerticalSpacing(8)
        for chart in self.charts:
            chart.setMinimumWidth(0)
            chart.setMinimumHeight(CHART_MIN_HEIGHT)
            self._layout.addWidget(chart, 0, 0)
        self.relayout()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.relayout()

    def relayout(self, force: bool = False) -> None:
        """Place the visible charts row by row; only when the column count changes."""
        shown = [c for c in self.charts if not c.isHidden()]
        columns = columns_for(self.width(), len(shown))
        if columns == self.columns and not force:
            return
        self.columns = columns
        for chart in self.charts:
            self._layout.removeWidget(chart)
        for i in range(self._layout.columnCount()):
            self._layout.setColumnStretch(i, 0)
        for i, chart in enumerate(shown):
            self._layout.addWidget(chart, i // columns, i % columns)
        for i in range(columns):
            self._layout.setColumnStretch(i, 1)
        for chart in self.charts:
            if chart.isHidden():
                self._layout.addWidget(chart, len(shown), 0)  # kept in the layout, not shown
