"""The Workers page's host filter bar: All hosts / This machine / each fleet host, and why fleet
commands are off when they are.

Hidden until a fleet host is heard: one machine has nothing to filter, so a one-machine user
sees the page as before. The bar only chooses; the page hides the rows (it owns the table).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QWidget

from pooldesk.desktop.models.workers_model import THIS_MACHINE


class HostFilterBar(QWidget):
    changed = Signal()  # the chosen host changed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = QComboBox()
        self.combo.setAccessibleName("Show the workers of")
        self.combo.addItem("All hosts", None)
        self.combo.addItem("This machine", THIS_MACHINE)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.combo.currentIndexChanged.connect(self.changed)
        label = QLabel("&Host:")
        label.setBuddy(self.combo)
        self.note = QLabel()  # why fleet commands are off (no key), when they are
        self.note.setObjectName("hint")
        self.note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        bar = QHBoxLayout(self)
        bar.setContentsMargins(0, 0, 0, 4)
        bar.addWidget(label)
        bar.addWidget(self.combo)
        bar.addSpacing(12)
        bar.addWidget(self.note, 1)
        self.setVisible(False)

    def set_hosts(self, hosts: list[dict[str, Any]]) -> None:
        """Each host heard gets an entry (kept when it goes offline, with that in its tooltip)."""
        known = [self.combo.itemData(i) for i in range(self.combo.count())]
        for row in hosts:
            if row["name"] not in known:
                self.combo.addItem(row["name"], row["name"])
        for i in range(2, self.combo.count()):
            row = next((r for r in hosts if r["name"] == self.combo.itemData(i)), None)
            online = bool(row and row.get("online"))
            self.combo.setItemData(
                i, "agent online" if online else "agent offline", Qt.ItemDataRole.ToolTipRole
            )
        self.setVisible(bool(hosts))

    def set_block(self, why: str) -> None:
        """Why commands to fleet hosts are off ("" when the fleet key is there)."""
        self.note.setText(f"Watch only: {why.split(':')[0]}" if why else "")
        self.note.setToolTip(why)

    def value(self) -> str | None:
        """None (all hosts), ``THIS_MACHINE`` ("local"), or a fleet host's name."""
        value = self.combo.currentData()
        return None if value is None else str(value)

    def set_value(self, value: str | None) -> bool:
        index = self.combo.findData(value)
        if index >= 0:
            self.combo.setCurrentIndex(index)
        return index >= 0
