"""The one question before a fix, whichever button asked: the warning card's Fix… and the Pool
fit table's Fix… for the same fix show the same title, text and buttons (they showed two
different dialogs for one action)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from pooldesk.backend.advisor.model import Fix

# The title and the button say the action; the text (``fix.confirm``) says exactly what.
TITLES = {
    "restart_worker": "Restart worker",
    "resize_worker": "Resize worker",
    "start_worker": "Start worker",
    "stop_worker": "Stop worker",
    "start_broker": "Start broker",
}
VERBS = {
    "restart_worker": "Restart",
    "resize_worker": "Resize",
    "start_worker": "Start",
    "stop_worker": "Stop",
    "start_broker": "Start broker",
}


def ask_fix(parent: QWidget, fix: Fix) -> QMessageBox:
    """The question, not yet open: the caller connects ``finished`` to a bound method of its
    own (a lambda or closure holding the box crashes PySide when the box is deleted), opens it
    window-modal with ``open()`` and reads the answer with :func:`confirmed`. Cancel is the
    default button, so Enter never applies a fix by accident."""
    box = QMessageBox(
        QMessageBox.Icon.Question, TITLES.get(fix.kind, "Apply fix"), fix.confirm, parent=parent
    )
    box.setStandardButtons(QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.button(QMessageBox.StandardButton.Ok).setText(VERBS.get(fix.kind, "Apply"))
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    return box


def confirmed(box: QMessageBox | None) -> bool:
    """Whether the user pressed the fix's own button (not Cancel, Escape or the close box)."""
    return box is not None and box.clickedButton() is box.button(QMessageBox.StandardButton.Ok)
