"""The Pool fit table (Overview): per queue, what its tasks measured and the pool that fits it.

It never scrolls sideways (issue 21: at 1366 px Fix… was off screen, at 1920 the recommendation
alone took 900 px): Queue, Measured nature, Verdict and **Fix…** always show; the
recommendation takes what width is left, elided, with its full text and formula in the
tooltip and in the row detail under the table (the selected row, the first one with a fix by
default); the other columns step aside, least telling first, when the table is narrow.

Rows are ``pooldesk.backend.fit.table.QueueFit`` as the telemetry thread builds them every second
(the same rows as ``pooldesk fit --json``). Hovering a cell shows the numbers behind it (the basis
of the nature, the formula, each task); **Fix…** asks for confirmation with the fix's exact text
and emits :attr:`PoolFitTable.fixRequested`, which the window sends to the worker controller.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from pooldesk.backend.advisor.model import Fix
from pooldesk.backend.fit import fixloop
from pooldesk.backend.fit.table import QueueFit
from pooldesk.desktop.views.fix_confirm import ask_fix, confirmed
from pooldesk.desktop.views.tables import fill_row, row_table

COLUMNS = (
    "Queue",
    "Tasks seen",
    "Measured nature",
    "CPU",
    "Loop hold",
    "Workers",
    "Verdict",
    "Recommendation",
    "Speed-up",
    "",
)
FIX_COLUMN = len(COLUMNS) - 1
WORKERS_COLUMN = COLUMNS.index("Workers")
RECOMMENDATION_COLUMN = COLUMNS.index("Recommendation")
WORKERS_WIDTH = 200
RECOMMENDATION_MIN = 360  # narrower, and the recommendation reads as "…": hide a column instead
# Hidden first when the table is narrow (never Queue, nature, verdict, recommendation, Fix…).
OPTIONAL = tuple(
    COLUMNS.index(c) for c in ("Workers", "Speed-up", "Tasks seen", "Loop hold", "CPU")
)
VERDICT_TEXT = {
    "trap": "runs one at a time",
    "switch": "switch pool",
    "trial": "try gevent first",
    "resize": "resize",
    "fits": "fits",
    "unknown": "measuring…",
    "unmeasured": "no probe",
    "idle": "no worker",
    "after_fix": "measuring after the fix",
}
SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
TONE = {"critical": "#c62828", "warning": "#b26a00", "info": "#1565c0"}


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _tooltip(row: QueueFit) -> str:
    lines = [f"{row.queue}: {row.nature} — {row.basis}"]
    if row.declared:
        lines.append(f"declared {row.declared}")
    if row.mean_wall_s is not None:
        hold = f", longest loop hold {row.hold_max_s * 1000:.0f} ms" if row.hold_max_s else ""
        lines.append(f"mean run {row.mean_wall_s * 1000:.0f} ms{hold}")
    if row.formula:
        lines.append(row.formula)
    for t in row.tasks:
        lines.append(
            f"  {t.task} ({t.pool}): {t.nature}, {t.runs} runs, CPU {_share(t.cpu_share)}, "
            f"hold {_share(t.hold_share)}"
        )
    return "\n".join(lines)


class PoolFitTable(QFrame):
    fixRequested = Signal(object)  # Fix, confirmed by the user
    timelineRequested = Signal(str)  # queue: its recent runs on a timeline (double-click)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[QueueFit] = []
        self.confirm_box: QMessageBox | None = None
        self._asked: Fix | None = None  # the fix the open question is about
        self.table = row_table(
            COLUMNS, QAbstractItemView.SelectionMode.SingleSelection, stretch=RECOMMENDATION_COLUMN
        )
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setWordWrap(False)
        self.table.setAccessibleName("Pool fit table")
        self.table.verticalHeader().setDefaultSectionSize(28)
        self.table.cellDoubleClicked.connect(self._double_clicked)
        self.table.itemSelectionChanged.connect(self._show_detail)
        header = self.table.horizontalHeader()
        header.setMinimumSectionSize(40)
        # Workers can be a long list ("invoices-1: prefork × 1; …"): a fixed, elided column
        # (the full list in the tooltip).
        header.setSectionResizeMode(WORKERS_COLUMN, QHeaderView.ResizeMode.Interactive)
        self.table.setColumnWidth(WORKERS_COLUMN, WORKERS_WIDTH)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.detail = QLabel()
        self.detail.setObjectName("hint")
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.empty_label = QLabel(
            "No queue measured yet: the probe in each worker reports its tasks once they run."
        )
        self.empty_label.setObjectName("hint")
        self.empty_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addWidget(self.detail)
        layout.addWidget(self.empty_label)
        self._fit_height()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_columns()

    def _fit_columns(self) -> None:
        """Show the optional columns that fit beside the essential ones and a readable
        recommendation; hide the rest, least telling first (their numbers stay in tooltips)."""
        table, header = self.table, self.table.horizontalHeader()
        # The frame's own width: the table's viewport is resized only after this event.
        available = self.contentsRect().width() - 2 * table.frameWidth()
        if available <= 0:
            return
        widths = {
            c: max(header.sectionSizeHint(c), table.sizeHintForColumn(c))
            for c in range(len(COLUMNS))
        }
        widths[WORKERS_COLUMN] = WORKERS_WIDTH
        widths[RECOMMENDATION_COLUMN] = RECOMMENDATION_MIN
        hidden = set()
        total = sum(widths.values())
        for column in OPTIONAL:
            if total <= available:
                break
            hidden.add(column)
            total -= widths[column]
        for column in OPTIONAL:
            if table.isColumnHidden(column) != (column in hidden):
                table.setColumnHidden(column, column in hidden)

    def detail_text(self, row: QueueFit) -> str:
        """The row detail: the whole recommendation and the formula behind it."""
        after = fixloop.summary(row)
        parts = [f"{row.queue} after the fix: {after}"] if after else []
        parts.append(f"{row.queue}: {row.recommendation}")
        if row.formula:
            parts.append(row.formula)
        if row.speedup:
            parts.append(f"expected ≈ {row.speedup:.1f}× faster")
        return " — ".join(parts)

    def _show_detail(self) -> None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        fixed = [i for i, r in enumerate(self.rows) if r.before is not None]
        fixable = [i for i, r in enumerate(self.rows) if r.fix is not None]
        fixable.sort(key=lambda i: SEVERITY_RANK.get(self.rows[i].severity or "", 3))
        fixable = fixed + fixable  # a fix being measured first: its before/after
        index = rows[0].row() if rows else (fixable[0] if fixable else -1)
        text = self.detail_text(self.rows[index]) if 0 <= index < len(self.rows) else ""
        self.detail.setText(text)
        self.detail.setVisible(bool(text))

    def set_rows(self, rows: list[QueueFit]) -> None:
        if rows == self.rows:
            return
        self.rows = list(rows)
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            nature = row.nature + (f" (declared {row.declared})" if row.declared else "")
            speedup = f"≈ {row.speedup:.1f}×" if row.speedup else ""
            cells = (
                row.queue,
                f"{row.runs:,}",
                nature,
                _share(row.cpu_share),
                _share(row.hold_share),
                "; ".join(row.workers) or "none",
                VERDICT_TEXT.get(row.verdict, row.verdict),
                fixloop.summary(row) or row.recommendation,
                speedup,
            )
            tip = _tooltip(row) + "\n\nDouble-click: its recent runs on a timeline."
            for c, item in enumerate(fill_row(self.table, r, cells)):
                whole = "\n".join(t for t in (fixloop.summary(row), row.recommendation) if t)
                first = {RECOMMENDATION_COLUMN: whole, WORKERS_COLUMN: item.text()}.get(c)
                item.setToolTip(f"{first}\n\n{tip}" if first else tip)
                if c in (1, 3, 4, 8):
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                if c == 6 and row.severity in TONE:
                    item.setForeground(QColor(TONE[row.severity]))
                    font = item.font()
                    font.setBold(row.severity == "critical")
                    item.setFont(font)
            self.table.setCellWidget(r, FIX_COLUMN, self._fix_button(r, row.fix))
        self._fit_columns()
        self._show_detail()
        self._fit_height()

    def _double_clicked(self, row: int, _column: int) -> None:
        if row < len(self.rows):
            self.timelineRequested.emit(self.rows[row].queue)

    def _fix_button(self, index: int, fix: Fix | None) -> QWidget | None:
        if fix is None:
            return QWidget()
        button = QPushButton("Fix…")
        button.setToolTip(fix.confirm)
        button.setAccessibleName(f"Fix queue {self.rows[index].queue}")
        button.setObjectName("fixButton")
        button.clicked.connect(lambda _=False, i=index: self._fix_clicked(i))
        return button

    def _fit_height(self) -> None:
        count = self.table.rowCount()
        self.table.setVisible(count > 0)
        self.empty_label.setVisible(count == 0)
        self.detail.setVisible(count > 0 and bool(self.detail.text()))
        height = self.table.horizontalHeader().height() + 4
        height += sum(self.table.rowHeight(r) for r in range(count))
        self.table.setFixedHeight(height)

    def _fix_clicked(self, index: int) -> None:
        if index >= len(self.rows) or self.rows[index].fix is None or self.confirm_box:
            return
        fix = self.rows[index].fix
        assert fix is not None
        self._asked = fix
        box = ask_fix(self, fix)
        box.finished.connect(self._confirmed)
        self.confirm_box = box
        box.open()

    def _confirmed(self, _result: int) -> None:
        fix, box = self._asked, self.confirm_box
        self._asked, self.confirm_box = None, None
        if confirmed(box) and fix is not None:
            self.fixRequested.emit(fix)
