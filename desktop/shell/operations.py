"""What the window says about an operation a service ran: "Stopping w1…" in the status bar
while it runs, its one-line outcome after, and a warning box (details behind a button) when it
failed. Every service reports operations in one shape (``desktop/services/base.py``):
``operationStarted(op, subject, doing)`` and ``operationFinished(op, subject, ok, message)``;
the composition root connects those here, so no page or service builds message boxes.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QMainWindow, QMessageBox

log = logging.getLogger(__name__)
MESSAGE_MS = 10_000
# A failure's title where "Could not OP SUBJECT" would not read well.
TITLES = {
    "launch": "Could not launch the batch",
    "cancel": "Could not cancel the batch",
    "retry": "Could not retry the batch",
    "seed": "Could not seed demo data",
    "history": "Batch history",
}


class Operations(QObject):
    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window

    def _say(self, text: str, timeout: int = 0) -> None:
        self.window.statusBar().showMessage(text, timeout)

    # -- every service's operationStarted / operationFinished ---------------------------------
    def started(self, _op: str, _subject: str, doing: str) -> None:
        self._say(doing)

    def finished(self, op: str, subject: str, ok: bool, message: str) -> None:
        summary = message.partition("\n\n")[0]
        self._say(summary, MESSAGE_MS)
        if not ok:
            log.warning("%s %s failed: %s", op, subject, message)
            title = TITLES.get(op) or (f"Could not {op} {subject}" if subject else summary)
            self.show_problem(title, message)

    def show_problem(self, title: str, message: str) -> None:
        """A non-blocking warning box: the summary, and any detail (log lines) behind a button."""
        summary, _, detail = message.partition("\n\n")
        box = QMessageBox(QMessageBox.Icon.Warning, "Pooldesk", title, parent=self.window)
        box.setInformativeText(summary if summary != title else "")
        if detail:
            box.setDetailedText(detail)
            reason = last_meaningful_line(detail)
            if reason:
                box.setInformativeText(f"{summary}\n\n{reason}")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # no Python reference kept
        box.open()


def last_meaningful_line(text: str) -> str | None:
    """The line most likely to say why, e.g. ``ModuleNotFoundError: …``: the last line that is
    not blank, not a traceback frame and not the supervisor's ``--- pooldesk: …`` marker."""
    for line in reversed(text.splitlines()):
        stripped = line.strip()
        if stripped and not stripped.startswith(("---", "File ", "^")) and line[:1] != " ":
            return stripped
    return None
