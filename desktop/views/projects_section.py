"""Settings ▸ Projects: the user's own Celery apps — add, edit, remove, check.

Each row says where the project's workers run (interpreter, app, broker — masked) and when it
was last checked (a project of another fleet host: the check its agent ran there, "checked on
host-a 3 min ago"); under the table the selected project's last check in plain words. Checking
imports the app in its own interpreter, off the GUI thread. Projects are saved at once (their
own 0600 files), not with the page's Save button, which is about ``settings.json``.

A project of another fleet host is added, edited, checked and removed by that host's agent:
``hostRequested`` asks the fleet service, :meth:`host_replied` gets the end, and this section
keeps the panel's mirror and the agent's check the CLI's way (``fleet.panel_projects``) — here,
so a reply that comes after its dialog was closed is still kept.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from pooldesk.backend.fleet.local import elsewhere
from pooldesk.backend.fleet.panel_projects import keep_check, mirror, unmirror
from pooldesk.backend.projects.check import CheckResult, run_check
from pooldesk.backend.projects.model import Project, ProjectError
from pooldesk.backend.projects.report import broker_words, checked_words, plain_words
from pooldesk.backend.projects.runenv import secrets
from pooldesk.backend.projects.store import ProjectStore
from pooldesk.backend.redact import mask_text
from pooldesk.backend.workers.records import RecordStore
from pooldesk.desktop.background import Background
from pooldesk.desktop.views.project_dialog import ProjectDialog
from pooldesk.desktop.views.tables import fill_row, row_table

COLUMNS = ("Name", "App", "Interpreter", "Broker", "Checked")


class ProjectsSection(QGroupBox):
    changed = Signal()  # a project was added, edited, removed or checked
    hostRequested = Signal(str, str, str, object)  # host, project_add|check|remove, name, params

    def __init__(self, parent: QWidget | None = None, store: ProjectStore | None = None) -> None:
        super().__init__("Projects: your own Celery apps", parent)
        self.store = store or ProjectStore()
        self._background = Background(self)
        self.dialog: ProjectDialog | None = None
        self.confirm_box: QMessageBox | None = None
        self.refusal_box: QMessageBox | None = None  # "has workers", shown instead of asking
        self._removing: str | None = None
        self._hosts: list[dict[str, Any]] = []  # the fleet's host rows (set_hosts)
        self._block = ""  # why no host can be commanded (no fleet key), "" when they can
        self._asking: set[tuple[str, str]] = set()  # (op, name) sent to an agent, unanswered
        # the interpreter's path takes the rest
        self.table = row_table(COLUMNS, stretch=2, fit=(0, 1, 3, 4), min_height=110)
        self.add_button = QPushButton("Add &project…")
        self.edit_button = QPushButton("&Edit…")
        self.remove_button = QPushButton("Remove")
        self.check_button = QPushButton("Chec&k")
        self.report_label = QLabel()
        self.report_label.setWordWrap(True)
        self.report_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_label = QLabel()
        self.status_label.setObjectName("hint")
        self.status_label.setWordWrap(True)
        intro = QLabel(
            "A project is your Celery app in its own virtualenv: its workers run your "
            "interpreter in your working directory with your env file, on your app's broker."
        )
        intro.setObjectName("hint")
        intro.setWordWrap(True)
        buttons = QHBoxLayout()
        for button in (self.add_button, self.edit_button, self.remove_button, self.check_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        layout.addWidget(self.report_label)
        layout.addWidget(self.status_label)
        self.add_button.clicked.connect(self.open_add)
        self.edit_button.clicked.connect(self.open_edit)
        self.remove_button.clicked.connect(self.remove_selected)
        self.check_button.clicked.connect(self.check_selected)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.reload()

    # -- reading -----------------------------------------------------------------------------
    def reload(self, select: str | None = None) -> None:
        current = select or self.selected_name()
        projects = self.store.all()
        self.table.setRowCount(len(projects))
        for row, project in enumerate(projects):
            check = self.store.shown_check(project, here="")  # this machine: no "on HOST"
            broker = broker_words(check, project.managed_broker, "Pooldesk's managed broker")
            cells = (project.name, project.app, project.python, broker, checked_words(check))
            for item in fill_row(self.table, row, cells):
                item.setToolTip(item.text())
            if project.name == current:
                self.table.selectRow(row)
        if not projects:
            self.report_label.setText(
                "No project yet. Add yours: its interpreter (a virtualenv's bin/python), its "
                "working directory and its Celery app — Pooldesk imports it once to check."
            )
        self._selection_changed()

    def selected_name(self) -> str | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        item = self.table.item(rows[0].row(), 0)
        return item.text() if item else None

    def selected(self) -> Project | None:
        name = self.selected_name()
        return self.store.load(name) if name else None

    # -- actions -----------------------------------------------------------------------------
    def open_add(self) -> None:
        self._open(ProjectDialog(self, None, self.store))

    def open_edit(self) -> None:
        project = self.selected()
        if project is not None:
            self._open(ProjectDialog(self, project, self.store))

    def _open(self, dialog: ProjectDialog) -> None:
        """Window-modal and non-blocking (``open``), so tests can drive it."""
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.set_hosts(self._hosts, self._block)
        dialog.hostAddRequested.connect(self._dialog_asked)
        dialog.finished.connect(self._dialog_finished)
        self.dialog = dialog
        dialog.open()

    def _dialog_finished(self, result: int) -> None:
        dialog, self.dialog = self.dialog, None
        if dialog is not None and result == QDialog.DialogCode.Accepted and dialog.saved_project:
            saved = dialog.saved_project
            where = f" on host {saved.host}" if saved.host else ""
            self.status_label.setText(f"Project {saved.name} saved{where}.")
            self.reload(select=saved.name)
            self.changed.emit()

    def remove_selected(self) -> None:
        """Asks first (window-modal, non-blocking); only Pooldesk's record of it goes."""
        name = self.selected_name()
        if not name:
            return
        host = elsewhere(self.store.load(name))
        users = [] if host else self._workers_of(name)  # its host's agent refuses, there
        if users:  # refused before the question, not after a Yes
            workers = ", ".join(users)
            noun = "a worker" if len(users) == 1 else f"{len(users)} workers"
            refusal = QMessageBox(
                QMessageBox.Icon.Information,
                "Remove project",
                f"Project {name} cannot be removed while it has {noun}: {workers}.",
                QMessageBox.StandardButton.Ok,
                self,
            )
            refusal.setInformativeText(
                "Stop them and forget them on the Workers page first; then remove the project."
            )
            refusal.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            self.refusal_box = refusal
            refusal.open()
            return
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Remove project",
            f"Remove project {name} from host {host}?"
            if host
            else f"Remove project {name} from Pooldesk?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setInformativeText(
            (
                "Its agent forgets it there (it refuses while the project has workers). "
                if host
                else ""
            )
            + "Your code, virtualenv and env file are not touched."
        )
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(self._remove_answered)  # bound method: no cycle through a lambda
        self.confirm_box, self._removing = box, name
        box.open()

    def _remove_answered(self, result: int) -> None:
        name, self.confirm_box, self._removing = self._removing, None, None
        if result != QMessageBox.StandardButton.Yes or not name:
            return
        host = elsewhere(self.store.load(name))
        if host:
            self._ask(host, "project_remove", name, f"Removing {name} from host {host}…")
            return
        users = self._workers_of(name)  # a worker started while the question was open
        if users:
            self.status_label.setText(
                f"Project {name} has workers ({', '.join(users)}): stop and forget them first."
            )
            return
        try:
            self.store.remove(name)
        except ProjectError as exc:
            self.status_label.setText(str(exc))
            return
        self.status_label.setText(f"Project {name} removed.")
        self.reload()
        self.changed.emit()

    @staticmethod
    def _workers_of(name: str) -> list[str]:
        """The local workers (any state) started for project ``name``."""
        records = RecordStore()
        return [
            r.spec.name
            for r in map(records.load, records.names())
            if r is not None and r.spec.project == name
        ]

    def check_selected(self) -> None:
        """Here, or by its host's agent for a project of another host (its paths are there)."""
        project = self.selected()
        if project is None:
            return
        host = elsewhere(project)
        if host:
            self._ask(host, "project_check", project.name, f"Checking {project.name} on {host}…")
            return
        self.check_button.setEnabled(False)
        self.status_label.setText(f"Importing {project.app} in {project.python}…")
        self._background.run(lambda: run_check(project), lambda r, e: self._checked(project, r, e))

    def _checked(
        self, project: Project, result: CheckResult | None, error: BaseException | None
    ) -> None:
        self.check_button.setEnabled(True)
        if error is not None or result is None:
            self.status_label.setText(mask_text(str(error), secrets(project)))
            return
        self.store.save_check(project.name, result)
        self.status_label.setText(
            f"Checked {project.name}: " + ("the app imports." if result.ok else "import failed.")
        )
        self.reload(select=project.name)
        self.changed.emit()

    def _selection_changed(self) -> None:
        project = self.selected()
        for button in (self.edit_button, self.remove_button, self.check_button):
            button.setEnabled(project is not None and not self._background.busy)
            button.setToolTip("")
        if project is None:
            return
        host = elsewhere(project)
        if host:  # by its agent: not without the key, not twice at once
            for op, button in (
                ("project_check", self.check_button),
                ("project_remove", self.remove_button),
            ):
                if self._block:
                    button.setToolTip(self._block)
                busy = (op, project.name) in self._asking
                button.setEnabled(button.isEnabled() and not self._block and not busy)
        check = self.store.shown_check(project, here="")
        words = plain_words(check, project.managed_broker)
        if check is not None and project.host:
            words.insert(0, f"{checked_words(check).capitalize()}, by its agent.")
        self.report_label.setText("\n".join(words))

    # -- projects of other hosts, through their agents ------------------------------------
    def set_hosts(self, rows: list[dict[str, Any]]) -> None:
        """The fleet's hosts (the fleet service's ``hostsChanged``), for the dialog's Host."""
        self._hosts = [dict(r) for r in rows]

    def set_fleet_block(self, why: str) -> None:
        """Why no host can be commanded ("" when they can): a host project's Check and Remove
        are greyed with it, and the dialog greys the hosts."""
        self._block = why
        self._selection_changed()

    def _dialog_asked(self, host: str, name: str, params: dict[str, Any]) -> None:
        self._ask(host, "project_add", name, "", params)

    def _ask(
        self, host: str, op: str, name: str, doing: str, params: dict[str, Any] | None = None
    ) -> None:
        self._asking.add((op, name))
        if doing:
            self.status_label.setText(f"{doing} (through its agent)")
        self._selection_changed()
        self.hostRequested.emit(host, op, name, params or {"name": name})

    def host_replied(
        self, op: str, host: str, name: str, ok: bool, text: str, data: dict[str, Any]
    ) -> None:
        """A host project request's end (the fleet service's ``projectReplied``): the mirror
        and the agent's check kept as the CLI keeps them, then shown."""
        self._asking.discard((op, name))
        check = data.get("check")
        said = text if ok else f"Host {host}: {text}"
        if op == "project_add":
            warning = mirror(data, host, self.store) if ok else None
            said = f"{said} (not listed here: {warning})" if warning else said
            dialog = self.dialog
            if dialog is not None and dialog.asked == host:
                if ok:  # the check as kept (masked again), not as sent
                    data = {**data, "check": self.store.host_check(name)}
                dialog.host_replied(ok, text, data)  # closes it when saved: _dialog_finished
                return
            self.status_label.setText(said)  # its dialog was closed meanwhile
            if ok:
                self.reload(select=name)
                self.changed.emit()
            return
        if op == "project_check" and isinstance(check, dict):
            keep_check(name, host, check, self.store)  # a failed import is a check too
            said = f"Checked {name} on host {host}: " + (
                "the app imports." if ok else f"import failed: {text}"
            )
        if op == "project_remove" and ok:
            unmirror(name, host, self.store)
            said = f"Project {name} removed from host {host}."
        self.status_label.setText(said)
        self.reload(select=name if op != "project_remove" else None)
        self.changed.emit()
