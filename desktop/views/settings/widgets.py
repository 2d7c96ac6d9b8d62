"""Small builders the settings sections share, so every section lays out its fields, notes
and tables the same way (and the same code is not written once per section)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
)


def form(box: QGroupBox, fields_stay: bool = True) -> QFormLayout:
    """Labels right-aligned; numeric fields keep their natural width instead of spanning."""
    layout = QFormLayout(box)
    if fields_stay:
        layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
    layout.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return layout


def same_width(spins: Sequence[QAbstractSpinBox]) -> None:
    """One width for a column of fields (the widest one's), so they line up."""
    width = max(spin.sizeHint().width() for spin in spins)
    for spin in spins:
        spin.setMinimumWidth(width)


def seconds_spin(maximum: float, decimals: int) -> QDoubleSpinBox:
    """Wider than the valid range on purpose: the checks say what is wrong, inline."""
    spin = QDoubleSpinBox()
    spin.setDecimals(decimals)
    spin.setRange(0, maximum)
    spin.setSuffix(" s")
    spin.setAccelerated(True)
    return spin


def note_row(layout: QFormLayout) -> QLabel:
    """A hidden hint under the last row (e.g. "set by POOLDESK_BROKER_URL")."""
    note = QLabel()
    note.setObjectName("hint")
    note.setVisible(False)
    layout.addRow("", note)
    return note


def show_note(note: QLabel, text: str) -> None:
    note.setText(text)
    note.setVisible(bool(text))
