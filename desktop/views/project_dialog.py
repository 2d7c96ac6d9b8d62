"""Add or edit a project: the host it runs on, interpreter, workdir and env file with file
pickers, the app, extra env pairs and the broker choice; checked live, and saved only after the
app imported once in its own interpreter (the check runs off the GUI thread).

On another fleet host the paths are paths *there*: the pickers (which browse this machine) are
off, extra env pairs are refused with the CLI's rule (env values never travel through the
broker: an env file on that host instead), and Check and save becomes a request to that host's
agent (``hostAddRequested``; the fleet service sends it). The agent's reply comes back through
:meth:`host_replied`, after the Projects section has kept the mirror of a saved project."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
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
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from pooldesk.backend.fleet.panel_projects import add_params, env_refusal
from pooldesk.backend.projects.check import CheckResult, run_check
from pooldesk.backend.projects.envfile import EnvFileError, parse_file, parse_pairs
from pooldesk.backend.projects.model import DEMO, Project
from pooldesk.backend.projects.report import plain_words
from pooldesk.backend.projects.runenv import secrets
from pooldesk.backend.projects.store import ProjectStore
from pooldesk.backend.redact import mask_text
from pooldesk.desktop.background import Background
from pooldesk.desktop.views.dialog_buttons import enter_means
from pooldesk.desktop.views.dialog_fit import grow_to_fit
from pooldesk.desktop.views.host_choice import THIS_MACHINE, add_hosts, block_hint, usable
from pooldesk.desktop.views.messages import show_list


class ProjectDialog(QDialog):
    hostAddRequested = Signal(str, str, object)  # host, name, project_add params

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
        self._asked = ""  # the host whose agent is checking the project, "" when none is
        self._block = ""  # why no host can be commanded (no fleet key), "" when they can
        self.saved_project: Project | None = None

        self.host_combo = QComboBox()  # this machine, then the fleet's hosts (set_hosts)
        self.host_combo.addItem(THIS_MACHINE, "")
        self.host_combo.setAccessibleName("Host the project runs on")
        if project is not None and project.host:
            self.host_combo.addItem(project.host, project.host)  # until the fleet's rows come
            self.host_combo.setCurrentIndex(1)
        self.host_combo.setEnabled(project is None)  # an edit keeps the project where it is
        self.host_hint = QLabel()  # one line, the rest in its tooltip: see dialog_fit.py
        self.host_hint.setObjectName("hint")

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
        self._host_label = QLabel("&Host:")
        self._host_label.setBuddy(self.host_combo)
        form.addRow(self._host_label, self.host_combo)
        form.addRow("", self.host_hint)
        self._host_rows = (self._host_label, self.host_combo)
        for widget in self._host_rows:  # one machine: nothing to pick (set_hosts shows them)
            widget.setVisible(self.host_combo.count() > 1)
        self.browse_buttons: list[QPushButton] = []
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
        self.host_combo.currentIndexChanged.connect(self._host_changed)
        self._host_changed()

    # -- the fleet ---------------------------------------------------------------------------
    def set_hosts(self, rows: list[dict[str, Any]], block: str = "") -> None:
        """The fleet's hosts, as the Start dialog offers them (``host_choice``)."""
        self._block = block
        editing = self._editing.host if self._editing is not None else None
        if editing:  # the project's own host, greyed like any other when it cannot be reached
            self.host_combo.removeItem(self.host_combo.findData(editing))
            if not any(r.get("name") == editing for r in rows):
                rows = [*rows, {"name": editing}]  # not heard: as an offline host
        add_hosts(self.host_combo, rows, block)
        if editing:
            self.host_combo.setCurrentIndex(self.host_combo.findData(editing))
        for widget in self._host_rows:
            widget.setVisible(self.host_combo.count() > 1)
        self._host_changed()

    def host(self) -> str:
        """ "" for this machine, else the fleet host the project is registered on."""
        return str(self.host_combo.currentData() or "")

    def _host_changed(self, _index: int = 0) -> None:
        host = self.host()
        tip = ""
        if host:
            text = f"Paths as they are on {host}; env values only in its env file there."
            tip = (
                f"Its agent checks the interpreter, working directory and env file on {host} "
                "(Browse… would look on this machine). No env value is sent through the broker."
            )
        elif self._block and self.host_combo.count() > 1:
            text = block_hint(self._block)
        else:
            text = ""
        self.host_hint.setText(text)
        self.host_hint.setToolTip(tip)
        self.host_hint.setVisible(bool(text))
        grow_to_fit(self)
        for button in self.browse_buttons:
            button.setEnabled(not host)
            button.setToolTip(f"Type the path as it is on {host}" if host else "")
        self.env_edit.setPlaceholderText(
            "not for another host: put them in its env file"
            if host
            else "optional: KEY=value, one per line"
        )
        self.save_button.setToolTip(
            f"Its agent imports the app once on {host}, then saves it there"
            if host
            else "Imports the app once in its interpreter, then saves"
        )
        self._validate()

    # -- the project as typed ----------------------------------------------------------------
    def project(self) -> Project:
        """Raises EnvFileError for unparsable extra env lines. On another host: its paths as
        typed (``~`` and a virtualenv's folder mean something there, not here)."""
        pairs = [ln.strip() for ln in self.env_edit.toPlainText().splitlines() if ln.strip()]
        host = self.host()
        if host:
            return Project(
                name=self.name_edit.text().strip(),
                python=self.python_edit.text().strip(),
                workdir=self.workdir_edit.text().strip(),
                app=self.app_edit.text().strip(),
                env_file=self.env_file_edit.text().strip() or None,
                env=parse_pairs(pairs, each="line"),
                managed_broker=self.managed_check.isChecked(),
                host=host,
            )
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
        if project.host:
            return self._host_problems(project)
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

    def _host_problems(self, project: Project) -> list[str]:
        """Only what can be known here: the fields' shape, the name, the CLI's env rule and
        whether the host can be commanded (its agent checks the rest, there)."""
        problems = project.problems(here=False)
        if project.env:
            problems.append(env_refusal(cli=False))
        if self._editing is None and project.name and self.store.load(project.name):
            problems.append(f"a project named {project.name!r} already exists")
        if not usable(self.host_combo):
            tip = self.host_combo.currentData(Qt.ItemDataRole.ToolTipRole)
            problems.append(f"host {project.host}: {tip or 'cannot be commanded'}")
        return problems

    # -- actions -----------------------------------------------------------------------------
    def check_and_save(self) -> None:
        if not self.save_button.isEnabled():
            return
        project = self.project()
        if project.host:
            self._ask_host(project)
            return
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
        grow_to_fit(self)
        self.store.add(project, replace=self._editing is not None)
        self.store.save_check(project.name, result)
        self.saved_project = project
        self.accept()

    def _ask_host(self, project: Project) -> None:
        """Check and save on another host: the request goes to its agent (the fleet service,
        off the GUI thread); :meth:`host_replied` gets the answer."""
        host = str(project.host)
        try:
            params = add_params(
                host,
                project.name,
                project.python,
                project.workdir,
                project.app,
                env_file=project.env_file,
                managed_broker=project.managed_broker,
                replace=self._editing is not None,
            )
        except ValueError as exc:
            show_list(self.problems_label, [str(exc)])
            return
        self._asked = host
        self.save_button.setEnabled(False)
        self.report_label.setText(
            f"Importing {project.app} in {project.python} on {host}, through its agent…"
        )
        self.hostAddRequested.emit(host, project.name, params)

    def host_replied(self, ok: bool, text: str, data: dict[str, Any]) -> None:
        """The agent's answer to Check and save (the section kept the mirror if it saved):
        its check shown like a local one; closed only when the project was saved there."""
        host, self._asked = self._asked, ""
        self._validate()
        check = data.get("check")
        if not ok:
            self.report_label.setText("")
            show_list(self.problems_label, [f"Not saved on {host}: {text}"])
            return
        words = plain_words(
            check if isinstance(check, dict) else None, self.managed_check.isChecked()
        )
        self.report_label.setText("\n".join([f"Checked on {host}, by its agent.", *words]))
        grow_to_fit(self)
        self.saved_project = self.store.load(self.name_edit.text().strip())
        self.accept()

    @property
    def asked(self) -> str:
        """The host whose agent is checking this dialog's project ("" when none is)."""
        return self._asked

    def _validate(self) -> None:
        problems = self.problems()
        show_list(self.problems_label, problems)
        fields = (self.name_edit, self.python_edit, self.workdir_edit, self.app_edit)
        complete = all(edit.text().strip() for edit in fields)
        busy = self._background.busy or bool(self._asked)
        self.save_button.setEnabled(complete and not problems and not busy)

    # -- pickers -----------------------------------------------------------------------------
    def _picker(self, edit: QLineEdit, pick: object) -> QWidget:
        row = QWidget()
        box = QHBoxLayout(row)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(edit, 1)
        button = QPushButton("Browse…")
        button.clicked.connect(pick)
        box.addWidget(button)
        self.browse_buttons.append(button)
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
