"""Settings ▸ Appearance: follow the system's light or dark scheme, or force one.

Applied as soon as it is saved (the main window's ``apply_settings``), no restart: the charts,
the status colours and the stylesheet all follow the palette.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QGroupBox, QWidget

from pooldesk.backend.settings import APPEARANCES, Settings
from pooldesk.desktop.views.settings.widgets import form

LABELS = {"system": "Like the system", "light": "Light", "dark": "Dark"}


class LookSection(QGroupBox):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Appearance", parent)
        self.combo = QComboBox()
        for value in APPEARANCES:
            self.combo.addItem(LABELS[value], value)
        self.combo.setToolTip("Light or dark colours; applies as soon as it is saved")
        self.combo.currentIndexChanged.connect(lambda _i: self.changed.emit())
        form(self).addRow("&Colours:", self.combo)

    def show_settings(self, file: Settings, _env: dict[str, str]) -> None:
        index = self.combo.findData(file.appearance)
        self.combo.setCurrentIndex(max(index, 0))

    def apply(self, settings: Settings) -> Settings:
        return replace(settings, appearance=str(self.combo.currentData()))

    def problems(self) -> list[str]:
        return []  # three choices, each valid
