"""The selected task in full (arguments, result, exception, traceback) and the edited-retry
dialog, whose JSON is checked as it is typed: OK stays disabled until both boxes parse."""

from __future__ import annotations

import html
import json
import time
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QTextOption
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from pooldesk.backend.taskhistory.retry import RetryError, parse_json
from pooldesk.desktop.formatting import DASH
from pooldesk.desktop.models.tasks_model import seconds

FIELDS = (
    ("State", "state"),
    ("Task", "name"),
    ("Id", "id"),
    ("Queue", "queue"),
    ("Worker", "worker"),
    ("Batch", "batch"),
    ("Root / parent", None),
    ("Retries", "retries"),
    ("Arguments", "args"),
    ("Keyword arguments", "kwargs"),
    ("Result", "result"),
    ("Exception", "exception"),
    ("Failure group", "failure_group"),
    ("Note", "note"),
)


def _time(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else DASH


def detail_html(data: dict[str, Any]) -> str:
    rows = []
    for label, key in FIELDS:
        if key is None:
            value = f"{data.get('root_id') or DASH} / {data.get('parent_id') or DASH}"
        else:
            value = data.get(key)
            if key in ("args", "kwargs", "result") and data.get("args_hidden"):
                value = "not recorded (Settings: task history hides arguments)"
            if value in (None, ""):
                continue
        rows.append(f"<tr><th align=left>{label}</th><td>{html.escape(str(value))}</td></tr>")
    # One time a line (the four on one line were cut at the pane's width); those never seen
    # are left out rather than shown as dashes.
    times = [
        f"{what} {_time(data.get(key))}"
        for what, key in (
            ("sent", "sent_at"),
            ("received", "received_at"),
            ("started", "started_at"),
            ("ended", "ended_at"),
        )
        if data.get(key)
    ]
    rows.append(f"<tr><th align=left>Times</th><td>{'<br>'.join(times) or DASH}</td></tr>")
    rows.append(
        f"<tr><th align=left>Wait / runtime</th><td>{seconds(data.get('wait'))} / "
        f"{seconds(data.get('runtime'))}</td></tr>"
    )
    retry = data.get("retry") or {}
    if not retry.get("as_recorded", True):
        rows.append(
            "<tr><th align=left>Retry</th><td>only with edited arguments: "
            f"{html.escape(str(retry.get('reason')))}</td></tr>"
        )
    return "<table cellspacing=4>" + "".join(rows) + "</table>"


class TaskDetail(QSplitter):
    """The fields on the left, the traceback beside them (where a failure's answer is)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.setObjectName("taskDetail")
        self.fields = QTextBrowser()
        self.fields.setOpenLinks(False)
        self.traceback = QPlainTextEdit()
        self.traceback.setReadOnly(True)
        # Wrapped at the pane's width: a traceback's long lines needed sideways scrolling.
        self.traceback.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.traceback.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.traceback.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.traceback.setPlaceholderText("No traceback: the task did not fail.")
        self.addWidget(self.fields)
        self.addWidget(self.traceback)
        self.setSizes([520, 480])
        self.setChildrenCollapsible(False)
        self.data: dict[str, Any] | None = None
        self.show_empty()

    def show_empty(self) -> None:
        self.data = None
        self.fields.setHtml("<p>Select a task to see its arguments, result and traceback.</p>")
        self.traceback.setPlainText("")

    def show_task(self, data: dict[str, Any]) -> None:
        self.data = data
        self.fields.setHtml(detail_html(data))
        self.traceback.setPlainText(data.get("traceback") or "")


class EditRetryDialog(QDialog):
    """Arguments as JSON, prefilled from what was recorded (or empty when it cannot be)."""

    def __init__(self, data: dict[str, Any], args: Any, kwargs: Any, parent: QWidget) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Retry {data.get('name')} with edited arguments")
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.args_edit = QPlainTextEdit(json.dumps(args) if args is not None else "[]")
        self.kwargs_edit = QPlainTextEdit(json.dumps(kwargs) if kwargs is not None else "{}")
        for edit in (self.args_edit, self.kwargs_edit):
            edit.setFont(mono)
            edit.setMinimumHeight(70)
            edit.textChanged.connect(self._check)
        self.error = QLabel()
        self.error.setObjectName("problems")  # styled red in style.qss
        self.error.setWordWrap(True)
        reason = (data.get("retry") or {}).get("reason")
        note = QLabel(
            f"The recorded arguments cannot be sent as they are: {reason}."
            if reason
            else "Edit the recorded arguments; they are sent as JSON."
        )
        note.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Arguments (JSON array)", self.args_edit)
        form.addRow("Keyword arguments (JSON object)", self.kwargs_edit)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Retry…")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(560, 320)
        self._check()

    def values(self) -> tuple[str, str]:
        return self.args_edit.toPlainText(), self.kwargs_edit.toPlainText()

    def problem(self) -> str | None:
        args, kwargs = self.values()
        try:
            parse_json(args, "Arguments", list)
            parse_json(kwargs, "Keyword arguments", dict)
        except RetryError as exc:
            return str(exc)
        return None

    def _check(self) -> None:
        problem = self.problem()
        self.error.setText(problem or "")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(problem is None)

    def accept(self) -> None:
        if self.problem() is None:  # Enter must not get past the check
            super().accept()
