"""The Tasks page's second tab: failures grouped by exception type and normalised message, with
counts, the task names they hit and when they were first and last seen."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pooldesk.desktop.models.tasks_model import when

GROUP_COLUMNS = ("Count", "Failure", "Tasks", "First seen", "Last seen")


class FailureGroups(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, len(GROUP_COLUMNS))
        self.table.setHorizontalHeaderLabels(GROUP_COLUMNS)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.show_button = QPushButton("Show these tasks")
        self.retry_button = QPushButton("Retry group…")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.show_button)
        buttons.addWidget(self.retry_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)

    def set_groups(self, groups: list[Any]) -> None:
        """Refill (a few dozen rows at most), keeping the selected group selected."""
        selected = self.selected()
        self.table.setRowCount(len(groups))
        now = time.time()
        for row, group in enumerate(groups):
            cells = (
                f"{group.count:,}",
                group.group,
                ", ".join(group.names),
                when(group.first_seen, now),
                when(group.last_seen, now),
            )
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, group.group)
                item.setToolTip(group.group if col == 1 else text)
                self.table.setItem(row, col, item)
            if group.group == selected:
                self.table.selectRow(row)

    def selected(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        value = self.table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole)
        return str(value) if value else None

    def selected_count(self) -> str:
        rows = self.table.selectionModel().selectedRows()
        return self.table.item(rows[0].row(), 0).text() if rows else "0"
