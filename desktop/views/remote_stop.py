"""The question before stopping a remote worker: it may be someone else's.

A Celery node found through the broker (another machine or installation, no agent of ours) can
only be stopped with Celery's broadcast shutdown, and nothing here starts it again. So the page
asks first — window-modal and non-blocking (``open``), so tests can answer it — and emits the
node's name only when the user chose *Stop remote worker*.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QAbstractButton, QMessageBox, QWidget


class RemoteStopQuestion(QObject):
    confirmed = Signal(str)  # the node's hostname

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._parent = parent
        self.box: QMessageBox | None = None  # while open
        self.stop_button: QAbstractButton | None = None

    def ask(self, hostname: str) -> None:
        if self.box is not None:
            self.box.raise_()
            return
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Stop remote worker",  # the title names the action, as every question's does
            f"Stop the remote worker {hostname}?",
            parent=self._parent,
        )
        box.setInformativeText(
            "It runs on another machine or installation, perhaps someone else's. Pooldesk "
            "sends Celery's shutdown command through the broker: the worker finishes its "
            "running tasks and exits, and nothing here starts it again."
        )
        box.setObjectName("remoteStopQuestion")
        stop = box.addButton("&Stop remote worker", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setEscapeButton(QMessageBox.StandardButton.Cancel)
        box.setProperty("hostname", hostname)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(self._answered)
        self.box, self.stop_button = box, stop
        box.open()

    def _answered(self, _result: int) -> None:
        box, self.box = self.box, None
        if box is not None and box.clickedButton() is self.stop_button:
            self.confirmed.emit(str(box.property("hostname")))
