"""Closing the window while local workers run: ask (leave them running, or stop them first),
stop them while the window stays responsive, then shut the services down.

Its own module because it is a small state machine over several events (the question's answer,
each worker's stop finishing, "Stop now") and it owns the one irreversible step, joining the
service threads. The window asks :meth:`CloseFlow.may_close` from its ``closeEvent``.

How it treats running workers: ``POOLDESK_CLOSE_ANSWER`` = ``ask`` (a question, the default),
``leave`` or ``stop``. Tests set ``leave`` (tests/conftest.py) where nobody could answer.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, SignalInstance
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox, QProgressDialog, QPushButton

log = logging.getLogger(__name__)
CLOSE_ANSWER_ENV = "POOLDESK_CLOSE_ANSWER"
RUNNING = ("starting", "online", "stopping")


def running_local(workers: list[Any]) -> list[str]:
    """The names of this machine's workers that closing would leave running."""
    return [w.name for w in workers if not w.remote and w.state in RUNNING]


class CloseFlow(QObject):
    def __init__(
        self,
        window: QMainWindow,
        running: Callable[[], list[str]],
        stop: SignalInstance,
        stop_now: SignalInstance,
        finished: SignalInstance,
        shutdown: Callable[[], None],
    ) -> None:
        """``running`` names the local workers running now; ``stop``/``stop_now`` ask the
        worker service to stop one (by name); ``finished`` is its ``operationFinished``;
        ``shutdown`` joins every service."""
        super().__init__(window)
        self.window = window
        self.running_local_workers = running
        self._stop, self._stop_now, self._finished = stop, stop_now, finished
        self._shutdown = shutdown
        self.answer = os.environ.get(CLOSE_ANSWER_ENV) or "ask"
        self.box: QMessageBox | None = None
        self.progress: QProgressDialog | None = None
        self.closed = False
        self._confirmed = False
        self._stopping: set[str] = set()

    def may_close(self) -> bool:
        """True: close now (the services are shut down). False: not yet (a question is
        open, or workers are stopping first); the flow closes the window itself later."""
        if not self._confirmed:
            if self._stopping:  # already stopping: wait for it
                return False
            running = self.running_local_workers()
            answer = self.answer if running else "leave"
            if answer == "ask":
                self._ask(running)
                return False
            if answer == "stop":
                self._stop_then_close(running)
                return False
        self.closed = True
        self.window.statusBar().showMessage("Closing…")
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            self._shutdown()  # waits for each service's current call, then joins its thread
        finally:
            QApplication.restoreOverrideCursor()
        return True

    def _close_confirmed(self) -> None:
        self._confirmed = True
        self.window.close()

    # -- the question ------------------------------------------------------------------------
    def _ask(self, running: list[str]) -> None:
        """Window-modal and non-blocking (``open``): the event loop keeps running meanwhile."""
        if self.box is not None:
            self.box.raise_()
            return
        names = ", ".join(running[:5]) + (
            f" and {len(running) - 5} more" if len(running) > 5 else ""
        )
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Quit Pooldesk",
            f"{len(running)} worker{'s' if len(running) != 1 else ''} still running: {names}.",
            parent=self.window,
        )
        box.setInformativeText(
            "Leave them running (Pooldesk adopts them the next time it starts), or stop them "
            "(warm: running tasks finish first) before quitting?"
        )
        box.setObjectName("closeQuestion")
        leave = box.addButton("&Leave running", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("&Stop workers", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(leave)
        box.setEscapeButton(QMessageBox.StandardButton.Cancel)
        box.finished.connect(self._answered)
        self.box = box
        box.open()

    def question_button(self, which: str) -> QPushButton | None:
        """The open close question's ``leave``, ``stop`` or ``cancel`` button (for tests)."""
        if self.box is None:
            return None
        texts = {"leave": "&Leave running", "stop": "&Stop workers"}
        for button in self.box.buttons():
            if which == "cancel" and self.box.standardButton(button) == (
                QMessageBox.StandardButton.Cancel
            ):
                return button if isinstance(button, QPushButton) else None
            if button.text() == texts.get(which) and isinstance(button, QPushButton):
                return button
        return None

    def _answered(self, _result: int) -> None:
        box, self.box = self.box, None
        if box is None:
            return
        clicked = box.clickedButton()
        box.deleteLater()
        if clicked is None or box.standardButton(clicked) == QMessageBox.StandardButton.Cancel:
            return
        if box.buttonRole(clicked) == QMessageBox.ButtonRole.DestructiveRole:
            self._stop_then_close(self.running_local_workers())
        else:
            self._close_confirmed()

    # -- stopping first ----------------------------------------------------------------------
    def _stop_then_close(self, names: list[str]) -> None:
        """Stop each worker through the worker service (its thread), then close; the window
        stays responsive meanwhile and a progress dialog says what is happening."""
        if not names:
            self._close_confirmed()
            return
        self._stopping = set(names)
        progress = QProgressDialog(
            f"Stopping {len(names)} worker{'s' if len(names) != 1 else ''}…",
            "",
            0,
            len(names),
            self.window,
        )
        # "Stop now" instead of Cancel: closing was asked for; what can be cut short is the
        # wait for running tasks (they return to the queue). Qt's own canceled → cancel()
        # connection would hide the dialog, so it is replaced.
        progress.setCancelButtonText("Stop &now")
        progress.canceled.disconnect()
        progress.canceled.connect(self._stop_now_clicked)
        progress.setWindowTitle("Pooldesk")
        progress.setWindowModality(Qt.WindowModality.WindowModal)
        progress.setMinimumDuration(0)
        progress.setValue(0)
        self.progress = progress
        progress.show()
        self._finished.connect(self._stopped)
        for name in names:
            self._stop.emit(name)

    def _stop_now_clicked(self) -> None:
        progress = self.progress
        if progress is not None:
            progress.setLabelText("Stopping now: running tasks go back to the queue…")
            button = progress.findChild(QPushButton)
            if button is not None:
                button.setEnabled(False)
        for name in sorted(self._stopping):
            self._stop_now.emit(name)

    def _stopped(self, op: str, name: str, ok: bool, message: str) -> None:
        if op != "stop" or name not in self._stopping:
            return
        self._stopping.discard(name)
        if not ok:
            log.warning("stopping %s before closing failed: %s", name, message)
        progress = self.progress
        if progress is not None:
            progress.setValue(progress.maximum() - len(self._stopping))
            if self._stopping:
                progress.setLabelText(f"Stopping {', '.join(sorted(self._stopping))}…")
        if not self._stopping:
            self._finished.disconnect(self._stopped)
            if progress is not None:
                progress.close()
                progress.deleteLater()
            self.progress = None
            self._close_confirmed()
