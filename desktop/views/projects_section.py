"""Settings ▸ Projects: the user's own Celery apps — add, edit, remove, check.

Each row says where the project's workers run (interpreter, app, broker — masked) and when it
was last checked (a project of another fleet host: the check its agent ran there, "checked on
host-a 3 min ago"); under the table the selected project's last check in plain words. Checking
imports the app in its own interpreter, off the GUI thread. Projects are saved at once (their
own 0600 files), not with the page's Save button, which is about ``settings.json``.
"""

from __future__ import annotations

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

    def __init__(self, parent: QWidget | None = None, store: ProjectStore | None = None) -> None:
        super().__init__("Projects: your own Celery apps", parent)
        self.store = store or ProjectStore()
        self._background = Background(self)
        self.dialog: ProjectDialog | None = None
        self.confirm_box: QMessageBox | None = None
        self.refusal_box: QMessageBox | None = None  # "has workers", shown instead of asking
        self._removing: str | None = None
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
        dialog.finished.connect(self._dialog_finished)
        self.dialog = dialog
        dialog.open()

    def _dialog_finished(self, result: int) -> None:
        dialog, self.dialog = self.dialog, None
        if dialog is not None and result == QDialog.DialogCode.Accepted and dialog.saved_project:
            self.status_label.setText(f"Project {dialog.saved_project.name} saved.")
            self.reload(select=dialog.saved_project.name)
            self.changed.emit()

    def remove_selected(self) -> None:
        """Asks first (window-modal, non-blocking); only Pooldesk's record of it goes."""
        name = self.selected_name()
        if not name:
            return
        users = self._workers_of(name)
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
            f"Remove project {name} from Pooldesk?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setInformativeText("Your code, virtualenv and env file are not touched.")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(self._remove_answered)  # bound method: no cycle through a lambda
        self.confirm_box, self._removing = box, name
        box.open()

    def _remove_answered(self, result: int) -> None:
        name, self.confirm_box, self._removing = self._removing, None, None
        if result != QMessageBox.StandardButton.Yes or not name:
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
        project = self.selected()
        if project is None:
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
        if project is None:
            return
        check = self.store.shown_check(project, here="")
        words = plain_words(check, project.managed_broker)
        if check is not None and project.host:
            words.insert(0, f"{checked_words(check).capitalize()}, by its agent.")
        self.report_label.setText("\n".join(words))
