"""Add or edit a project: interpreter, workdir and env file with file pickers, the app, extra
env pairs and the broker choice; checked live, and saved only after the app imported once in
its own interpreter (the check runs off the GUI thread)."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from pooldesk.backend.projects.check import CheckResult, run_check
from pooldesk.backend.projects.envfile import EnvFileError, parse_file, parse_pairs
from pooldesk.backend.projects.model import DEMO, Project
from pooldesk.backend.projects.report import plain_words
from pooldesk.backend.projects.runenv import secrets
from pooldesk.backend.projects.store import ProjectStore
from pooldesk.backend.redact import mask_text
from pooldesk.desktop.background import Background
from pooldesk.desktop.views.dialog_buttons import enter_means
from pooldesk.desktop.views.messages import show_list


class ProjectDialog(QDialog):
    def __init__(
        self,
        parent: QWidget | None = None,
        project: Project | None = None,
        store: ProjectStore | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store or ProjectStore()
        self._editing = project
        self.setWindowTitle("Edit project" if project else "Add project")
        self._background = Background(self)
        self.saved_project: Project | None = None

        self.name_edit = QLineEdit(project.name if project else "")
        self.name_edit.setPlaceholderText("e.g. shop")
        self.name_edit.setReadOnly(project is not None)
        self.python_edit = QLineEdit(project.python if project else "")
        self.python_edit.setPlaceholderText("/path/to/venv/bin/python")
        self.workdir_edit = QLineEdit(project.workdir if project else "")
        self.workdir_edit.setPlaceholderText("the directory your worker runs in")
        self.app_edit = QLineEdit(project.app if project else "")
        self.app_edit.setPlaceholderText("proj.celery:app or proj")
        self.env_file_edit = QLineEdit((project.env_file or "") if project else "")
        self.env_file_edit.setPlaceholderText("optional: a .env file (KEY=value lines)")
        self.env_edit = QPlainTextEdit()
        self.env_edit.setPlaceholderText("optional: KEY=value, one per line")
        self.env_edit.setFixedHeight(64)
        if project:
            self.env_edit.setPlainText("\n".join(f"{k}={v}" for k, v in project.env.items()))
        self.managed_check = QCheckBox("Run its workers on Pooldesk's &managed broker")
        self.managed_check.setToolTip(
            "Off (the default): workers use the broker the app is configured with, where your "
            "web app sends its tasks. On: Pooldesk's own Redis, for trying things out."
        )
        self.managed_check.setChecked(bool(project and project.managed_broker))

        form = QFormLayout()
        form.addRow("&Name:", self.name_edit)
        form.addRow("&Interpreter:", self._picker(self.python_edit, self._pick_python))
        form.addRow("&Working directory:", self._picker(self.workdir_edit, self._pick_workdir))
        form.addRow("&App:", self.app_edit)
        form.addRow("&Env file:", self._picker(self.env_file_edit, self._pick_env_file))
        form.addRow("E&xtra env:", self.env_edit)
        form.addRow("", self.managed_check)
        self.problems_label = QLabel()
        self.problems_label.setObjectName("problems")
        self.problems_label.setWordWrap(True)
        self.report_label = QLabel()
        self.report_label.setObjectName("hint")
        self.report_label.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setText("Check and &save")
        self.save_button.setToolTip("Imports the app once in its interpreter, then saves")
        enter_means(self.save_button, self.buttons)  # Enter never cancels
        self.buttons.accepted.connect(self.check_and_save)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problems_label)
        layout.addWidget(self.report_label)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(620)
        for edit in (
            self.name_edit,
            self.python_edit,
            self.workdir_edit,
            self.app_edit,
            self.env_file_edit,
        ):
            edit.textChanged.connect(self._validate)
        self.env_edit.textChanged.connect(self._validate)
        self._validate()

    # -- the project as typed ----------------------------------------------------------------
    def project(self) -> Project:
        """Raises EnvFileError for unparsable extra env lines."""
        pairs = [ln.strip() for ln in self.env_edit.toPlainText().splitlines() if ln.strip()]
        python = self.python_edit.text().strip()
        if python and Path(python).is_dir():  # a virtualenv picked: its interpreter
            python = str(Path(python) / "bin" / "python")
        return Project(
            name=self.name_edit.text().strip(),
            python=os.path.expanduser(python),
            workdir=os.path.expanduser(self.workdir_edit.text().strip()),
            app=self.app_edit.text().strip(),
            env_file=os.path.expanduser(self.env_file_edit.text().strip()) or None,
            env=parse_pairs(pairs, each="line"),
            managed_broker=self.managed_check.isChecked(),
        )

    def problems(self) -> list[str]:
        try:
            project = self.project()
        except EnvFileError as exc:
            return [f"extra env: {exc}"]
        if not any((project.name, project.python, project.workdir, project.app)):
            return []  # nothing typed yet: no red text
        problems = project.problems()
        if self._editing is None and (
            project.name == DEMO or (project.name and self.store.load(project.name))
        ):
            problems.append(f"a project named {project.name!r} already exists")
        if project.env_file:
            try:
                parse_file(Path(project.env_file))
            except EnvFileError as exc:
                problems.append(str(exc))
        return problems

    # -- actions -----------------------------------------------------------------------------
    def check_and_save(self) -> None:
        if not self.save_button.isEnabled():
            return
        project = self.project()
        self.save_button.setEnabled(False)
        self.report_label.setText(f"Importing {project.app} in {project.python}…")
        self._background.run(lambda: run_check(project), lambda r, e: self._checked(project, r, e))

    def _checked(
        self, project: Project, result: CheckResult | None, error: BaseException | None
    ) -> None:
        self.save_button.setEnabled(True)
        hidden = secrets(project)
        if error is not None or result is None:
            self.report_label.setText("")
            show_list(self.problems_label, [mask_text(str(error), hidden)])
            return
        if not result.ok:  # said once, in red: not also in the grey report below it
            self.report_label.setText("")
            show_list(self.problems_label, [f"Not saved: the app does not import: {result.error}"])
            return
        self.report_label.setText("\n".join(plain_words(result.public(), project.managed_broker)))
        self.store.add(project, replace=self._editing is not None)
        self.store.save_check(project.name, result)
        self.saved_project = project
        self.accept()

    def _validate(self) -> None:
        problems = self.problems()
        show_list(self.problems_label, problems)
        fields = (self.name_edit, self.python_edit, self.workdir_edit, self.app_edit)
        complete = all(edit.text().strip() for edit in fields)
        self.save_button.setEnabled(complete and not problems and not self._background.busy)

    # -- pickers -----------------------------------------------------------------------------
    def _picker(self, edit: QLineEdit, pick: object) -> QWidget:
        row = QWidget()
        box = QHBoxLayout(row)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(edit, 1)
        button = QPushButton("Browse…")
        button.clicked.connect(pick)
        box.addWidget(button)
        return row

    def _pick_python(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "The project's Python interpreter")
        if path:
            self.python_edit.setText(path)

    def _pick_workdir(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "The project's working directory")
        if path:
            self.workdir_edit.setText(path)

    def _pick_env_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "The project's env file")
        if path:
            self.env_file_edit.setText(path)
