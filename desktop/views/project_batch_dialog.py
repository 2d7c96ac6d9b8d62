"""Launch batch… (Ctrl+B): a project's own task as a batch, with its plan and forecast.

UI only: every check and the forecast come from the batch service (``planProject``, off the GUI
thread) as the person types — debounced, and only the answer to the latest request is shown.
Bad input is marked on its field with the same one line the CLI prints; Launch stays disabled
until the service says the plan is good.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from pooldesk.backend.advisor.model import Fix
from pooldesk.backend.batches.project_request import ProjectRequest
from pooldesk.desktop.views.dialog_buttons import enter_means
from pooldesk.desktop.views.fix_confirm import ask_fix, confirmed

DEBOUNCE_MS = 400
BAD = "color: #b3261e;"


class ProjectBatchDialog(QDialog):
    planRequested = Signal(object)  # ProjectRequest
    fixRequested = Signal(object)  # Fix: the Pool fit table's fix for the batch's queue, confirmed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Launch batch")
        self._token = 0
        self._projects: list[dict[str, Any]] = []
        self.answer: dict[str, Any] | None = None
        self._fixes: dict[str, Fix] = {}  # queue → the Pool fit table's fix for it
        self.confirm_box: Any = None

        self.project_box = QComboBox()
        self.task_box = QComboBox()
        self.queue_edit = QLineEdit()
        self.file_radio = QRadioButton("Items file")
        self.range_radio = QRadioButton("Range")
        self.file_radio.setChecked(True)
        self.file_edit = QLineEdit()
        self.file_edit.setPlaceholderText(".csv (header row), .jsonl or .txt")
        self.browse_button = QPushButton("Browse…")
        self.kwargs_check = QCheckBox("CSV columns as keyword arguments")
        self.range_edit = QLineEdit()
        self.range_edit.setPlaceholderText("A:B, e.g. 1:6000")
        self.chunk_check = QCheckBox("Chunks of")
        self.chunk_spin = QSpinBox()
        self.chunk_spin.setRange(0, 1_000_000)
        self.chunk_spin.setValue(500)
        self.chunk_spin.setEnabled(False)
        self.preview_label = QLabel()
        self.preview_label.setObjectName("preview")
        self.preview_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.plan_label = QLabel("…")
        self.plan_label.setWordWrap(True)
        # The forecast says "≈ 60 min here; ≈ 15 min on prefork × 4": the fix that switches
        # the queue's workers is offered right here, before the launch (the same question as
        # the Pool fit table's Fix…).
        self.fix_button = QPushButton("Fix the pool first…")
        self.fix_button.setVisible(False)
        self.fix_button.clicked.connect(self._fix_clicked)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(BAD)
        self.buttons = QDialogButtonBox()
        self.launch_button = self.buttons.addButton(
            "Launch", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.launch_button.setEnabled(False)
        enter_means(self.launch_button, self.buttons)  # Enter never cancels
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        file_row = QHBoxLayout()
        file_row.addWidget(self.file_edit, 1)
        file_row.addWidget(self.browse_button)
        chunk_row = QHBoxLayout()
        chunk_row.addWidget(self.chunk_check)
        chunk_row.addWidget(self.chunk_spin)
        chunk_row.addWidget(QLabel("items per call (else one call per item)"), 1)
        form = QFormLayout()
        form.addRow("Project", self.project_box)
        form.addRow("Task", self.task_box)
        form.addRow(self.file_radio, file_row)
        form.addRow("", self.kwargs_check)
        form.addRow(self.range_radio, self.range_edit)
        form.addRow("", chunk_row)
        form.addRow("Queue", self.queue_edit)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("First items"))
        layout.addWidget(self.preview_label)
        layout.addWidget(self.plan_label)
        layout.addWidget(self.fix_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._request_plan)
        self.project_box.currentIndexChanged.connect(self._project_changed)
        self.task_box.currentIndexChanged.connect(self._task_changed)
        self.browse_button.clicked.connect(self._browse)
        self.chunk_check.toggled.connect(self.chunk_spin.setEnabled)
        for signal in (
            self.queue_edit.textChanged,
            self.file_edit.textChanged,
            self.range_edit.textChanged,
            self.chunk_spin.valueChanged,
            self.chunk_check.toggled,
            self.kwargs_check.toggled,
            self.file_radio.toggled,
        ):
            signal.connect(self._changed)

    # -- data in -----------------------------------------------------------------------------
    def set_projects(self, projects: list[dict[str, Any]]) -> None:
        self._projects = projects
        self.project_box.blockSignals(True)
        self.project_box.clear()
        self.project_box.addItems([p["name"] for p in projects])
        self.project_box.blockSignals(False)
        self._project_changed()
        if not projects:
            self._mark("project", "No project yet: add yours in Settings ▸ Projects.")

    def set_plan(self, answer: dict[str, Any]) -> None:
        """The service's answer; an older request's answer is ignored."""
        if answer.get("token") != self._token:
            return
        self.answer = answer
        preview = answer.get("preview")
        if preview is not None:
            rows = "\n".join(json.dumps(v)[:120] for v in preview)
            self.preview_label.setText(f"{rows}\n({answer.get('count', 0):,} items)")
        if not answer.get("ok"):
            self._mark(str(answer.get("field") or "project"), str(answer.get("error")))
            return
        self._mark("", "")
        self.plan_label.setText(plan_text(answer["plan"], answer.get("warning")))
        self.launch_button.setEnabled(True)
        self._show_fix()

    def set_fixes(self, fixes: dict[str, Fix]) -> None:
        """The Pool fit table's fixes by queue (pushed on every change of the table)."""
        self._fixes = dict(fixes)
        self._show_fix()

    def fix_for_plan(self) -> Fix | None:
        plan = (self.answer or {}).get("plan") if (self.answer or {}).get("ok") else None
        return self._fixes.get(str(plan.get("queue"))) if plan else None

    def _show_fix(self) -> None:
        fix = self.fix_for_plan()
        self.fix_button.setVisible(fix is not None)
        if fix is not None:
            self.fix_button.setToolTip(fix.confirm)

    def _fix_clicked(self) -> None:
        fix = self.fix_for_plan()
        if fix is None or self.confirm_box is not None:
            return
        box = ask_fix(self, fix)
        box.finished.connect(self._fix_answered)
        self.confirm_box = box
        box.open()

    def _fix_answered(self, _result: int) -> None:
        box, self.confirm_box = self.confirm_box, None
        fix = self.fix_for_plan()
        if confirmed(box) and fix is not None:
            self.fixRequested.emit(fix)
            self.fix_button.setEnabled(False)  # once; the forecast updates as the pool changes

    def request(self) -> ProjectRequest:
        chunk = self.chunk_spin.value() if self.chunk_check.isChecked() else None
        by_file = self.file_radio.isChecked()
        return ProjectRequest(
            project=self.project_box.currentText(),
            task=self.task_box.currentText(),
            items_file=self.file_edit.text().strip() if by_file else "",
            range_text="" if by_file else self.range_edit.text(),
            chunk_size=chunk,
            queue=self.queue_edit.text().strip() or None,
            kwargs=self.kwargs_check.isChecked() and by_file,
            token=self._token,
        )

    # -- reacting ----------------------------------------------------------------------------
    def _project_changed(self) -> None:
        project = next(
            (p for p in self._projects if p["name"] == self.project_box.currentText()), None
        )
        self.task_box.blockSignals(True)
        self.task_box.clear()
        self.task_box.addItems([t["name"] for t in (project or {}).get("tasks", [])])
        self.task_box.blockSignals(False)
        self._task_changed()

    def _task_changed(self) -> None:
        project = next(
            (p for p in self._projects if p["name"] == self.project_box.currentText()), None
        )
        task = next(
            (
                t
                for t in (project or {}).get("tasks", [])
                if t["name"] == self.task_box.currentText()
            ),
            None,
        )
        self.queue_edit.setPlaceholderText(f"{task['queue']} (from its routes)" if task else "")
        self._changed()

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Items", "", "Items (*.csv *.jsonl *.txt);;All files (*)"
        )
        if path:
            self.file_radio.setChecked(True)
            self.file_edit.setText(path)

    def _changed(self) -> None:
        self.launch_button.setEnabled(False)  # until the answer to this input comes back
        self.fix_button.setVisible(False)
        self.plan_label.setText("Planning…")
        self._debounce.start()

    def _request_plan(self) -> None:
        self._token += 1
        self.planRequested.emit(self.request())

    def _mark(self, field: str, error: str) -> None:
        fields = {
            "project": self.project_box,
            "task": self.task_box,
            "items": self.file_edit if self.file_radio.isChecked() else self.range_edit,
            "chunk": self.chunk_spin,
            "queue": self.queue_edit,
        }
        for name, widget in fields.items():
            widget.setStyleSheet("border: 1px solid #b3261e;" if name == field else "")
            widget.setToolTip(error if name == field else "")
        self.error_label.setText(error)
        if error:
            self.plan_label.setText("")
            self.launch_button.setEnabled(False)


def plan_text(plan: dict[str, Any], warning: str | None) -> str:
    """The plan and forecast as a few lines, as ``batch run --dry-run`` prints them."""
    lines = [
        f"{plan['items']:,} items → {plan['children']:,} calls of {plan['task']} "
        f"on queue {plan['queue']}"
    ]
    consumers = plan.get("consumers") or []
    if consumers:
        lines.append(
            "Consumers: "
            + ", ".join(f"{c['name']} ({c['pool']} × {c['concurrency']})" for c in consumers)
        )
    for row in plan.get("forecast") or []:
        seconds = float(row.get("seconds") or 0)
        took = f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"
        shape = f"{row.get('pool')} × {row.get('concurrency')}"
        where = f"here ({shape})" if row.get("current") else f"on {shape}"
        lines.append(f"≈ {took} {where}" + (f" — {row['basis']}" if row.get("basis") else ""))
    if not plan.get("forecast"):
        lines.append(f"Forecast: {plan.get('forecast_reason') or 'not available'}")
    if warning:
        lines.append(f"Warning: {warning}")
    return "\n".join(lines)
