"""The Batches page: launch, follow, cancel and retry batches; the selected batch in detail.

Like the Workers page it owns its actions and turns them into request signals; it never calls
the backend. The table is fed by ``set_batches`` every second; the detail pane (parameters,
results, failures, and the children table) follows the selected row.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from pooldesk.backend.advisor.model import Fix
from pooldesk.backend.batches.history import BatchRecord
from pooldesk.backend.fit.table import QueueFit
from pooldesk.desktop import resources
from pooldesk.desktop.models.batches_model import PROGRESS, BatchesModel, ProgressDelegate
from pooldesk.desktop.views.batch_detail import BatchDetail
from pooldesk.desktop.views.launch_dialogs import LaunchInvoicesDialog, LaunchMonitoringDialog
from pooldesk.desktop.views.project_batch_dialog import ProjectBatchDialog
from pooldesk.desktop.views.tables import make_table

EMPTY_TEXT = (
    "No batches yet.\n\nLaunch one with Launch invoices… (Ctrl+I) or Launch monitoring… "
    "(Ctrl+M),\nor from a terminal: pooldesk batch invoices --customers 100"
)
NO_CUSTOMERS = "The invoice database has no customers yet."
DEMO_CUSTOMERS = 2000

RESIZE_PRECISION = 50  # rows sampled to size a column


class BatchesPage(QWidget):
    title = "Batches"
    launchInvoicesRequested = Signal(object)  # InvoiceParams
    launchMonitoringRequested = Signal(object)  # MonitorParams
    cancelRequested = Signal(str, bool)  # batch id, terminate running children
    retryRequested = Signal(str)
    batchSelected = Signal(str)  # "" when nothing is selected
    seedRequested = Signal(int)  # customers
    customersWanted = Signal()  # count the customers again (the invoice dialog is opening)
    startWorkersRequested = Signal(list)  # queues a launch dialog found nobody consumes
    projectsWanted = Signal()  # Launch batch… is opening: list the projects and their tasks
    projectPlanRequested = Signal(object)  # ProjectRequest: plan and forecast, nothing sent
    launchProjectRequested = Signal(object)  # ProjectRequest
    fixRequested = Signal(object)  # Fix, confirmed in Launch batch… (switch the pool first)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.customers_in_db = -1
        self.dialog: QDialog | None = None  # the open launch / seed dialog, for tests
        self.consumed: set[str] | None = None  # queues running workers consume (None: unknown)
        self.cancel_box: QMessageBox | None = None
        self._select_when_listed = ""
        self._fixes: dict[str, Fix] = {}  # queue → the Pool fit table's fix
        self.model = BatchesModel(self)

        self.launch_invoices_action = self._action(
            "start", "Launch &invoices…", "Bill customers for a month, in chunks", "Ctrl+I"
        )
        self.launch_monitoring_action = self._action(
            "start", "Launch &monitoring…", "Check a list of URLs once each", "Ctrl+M"
        )
        self.launch_project_action = self._action(
            "start", "Launch &batch…", "Send a project's own task as a batch", "Ctrl+B"
        )
        self.launch_project_action.triggered.connect(self.open_project_dialog)
        self.cancel_action = self._action(
            "stop", "&Cancel", "Revoke the children that have not started yet"
        )
        self.retry_action = self._action(
            "restart", "Retry &failed", "Run the failed and cancelled children again"
        )
        self.seed_action = QAction("&Seed demo customers…", self)
        self.seed_action.setToolTip("Create demo customers with usage for the last three months")
        self.launch_invoices_action.triggered.connect(self.open_invoices_dialog)
        self.launch_monitoring_action.triggered.connect(self.open_monitoring_dialog)
        self.cancel_action.triggered.connect(self.confirm_cancel)
        self.retry_action.triggered.connect(self._retry)
        self.seed_action.triggered.connect(self.open_seed_dialog)

        self.problem_label = QLabel()
        self.problem_label.setObjectName("warnings")
        self.problem_label.setWordWrap(True)
        self.problem_label.setContentsMargins(8, 4, 8, 4)
        self.problem_label.setVisible(False)

        self.table = make_table(self.model)
        self.table.setItemDelegateForColumn(PROGRESS, ProgressDelegate(self.table))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(PROGRESS, QHeaderView.ResizeMode.Stretch)
        # Measure the visible rows' neighbourhood only: with Qt's default (1,000 rows) every
        # refresh of a 1,000-child batch re-measured each row on the GUI thread.
        header.setResizeContentsPrecision(RESIZE_PRECISION)
        self.detail = BatchDetail()
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.detail)
        split.setSizes([260, 300])
        split.setChildrenCollapsible(False)

        self.empty_label = QLabel(EMPTY_TEXT)
        self.empty_label.setObjectName("emptyState")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.seed_note = QLabel(NO_CUSTOMERS)
        self.seed_button = QPushButton(f"Seed {DEMO_CUSTOMERS:,} demo customers")
        self.seed_button.clicked.connect(self._seed_default)
        empty = QWidget()
        empty_layout = QVBoxLayout(empty)
        empty_layout.addStretch(1)
        empty_layout.addWidget(self.empty_label)
        for widget in (self.seed_note, self.seed_button):
            empty_layout.addWidget(widget, 0, Qt.AlignmentFlag.AlignHCenter)
        empty_layout.addStretch(1)
        self.stack = QStackedWidget()
        self.stack.addWidget(empty)
        self.stack.addWidget(split)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        # The problem line sits under the table: appearing, it moves no row under the pointer.
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.problem_label)

        # The controller sends the list when it changes; the clocks tick here, once a second.
        self.clock = QTimer(self)
        self.clock.setInterval(1000)
        self.clock.timeout.connect(self._tick)
        self.clock.start()
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.model.rowsInserted.connect(self._rows_changed)
        self.model.rowsRemoved.connect(self._rows_changed)
        self.set_customer_count(-1)
        self._rows_changed()

    def actions_for_toolbar(self) -> list[QAction]:
        return self.actions_for_menu()[:5]

    def actions_for_menu(self) -> list[QAction]:
        return [
            self.launch_invoices_action,
            self.launch_monitoring_action,
            self.launch_project_action,
            self.cancel_action,
            self.retry_action,
            self.seed_action,
        ]

    # -- data in -----------------------------------------------------------------------------
    def set_batches(self, records: list[BatchRecord]) -> None:
        self.model.update(records)
        if self._select_when_listed and self.select(self._select_when_listed):
            self._select_when_listed = ""
        self._show_detail()

    def set_children(self, batch_id: str, children: list[dict[str, Any]]) -> None:
        self.detail.set_children(batch_id, children)

    def set_workers(self, workers: list[Any]) -> None:
        """The queues running workers consume: a launch dialog says when a batch would wait."""
        self.consumed = {
            q
            for w in workers
            if getattr(w, "state", "") in ("starting", "online", "online-remote")
            for q in (getattr(w, "queues", None) or [])
        }
        if isinstance(self.dialog, LaunchInvoicesDialog | LaunchMonitoringDialog):
            self.dialog.set_consumers(self.consumed)

    def set_customer_count(self, count: int) -> None:
        self.customers_in_db = count
        if isinstance(self.dialog, LaunchInvoicesDialog):
            self.dialog.set_customer_count(count)
        self.seed_note.setVisible(count == 0)
        self.seed_button.setVisible(count == 0)
        self.seed_button.setEnabled(True)

    def set_problem(self, text: str) -> None:
        self.problem_label.setText(text)
        self.problem_label.setToolTip(text)
        self.problem_label.setVisible(bool(text))

    def batch_launched(self, batch_id: str) -> None:
        """Select the new batch once it is listed (the next refresh)."""
        if not self.select(batch_id):
            self._select_when_listed = batch_id

    def selected_batch(self) -> BatchRecord | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.record(rows[0].row()) if rows else None

    def select(self, batch_id: str) -> bool:
        row = self.model.row_of(batch_id)
        if row < 0:
            return False
        index = self.model.index(row, 0)
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
        self.table.selectionModel().select(index, flags | QItemSelectionModel.SelectionFlag.Rows)
        self.table.setCurrentIndex(index)
        return True

    # -- actions -----------------------------------------------------------------------------
    def open_invoices_dialog(self) -> None:
        self._open(LaunchInvoicesDialog(self, self.customers_in_db))
        self.customersWanted.emit()  # seeded from a terminal meanwhile? the dialog updates

    def open_monitoring_dialog(self) -> None:
        self._open(LaunchMonitoringDialog(self))

    def open_project_dialog(self) -> None:
        """Launch batch… (Ctrl+B): the projects come from the batch service, then every plan."""
        dialog = ProjectBatchDialog(self)
        dialog.planRequested.connect(self.projectPlanRequested)
        dialog.fixRequested.connect(self.fixRequested)
        dialog.set_fixes(self._fixes)
        self._open(dialog)
        self.projectsWanted.emit()

    def set_fit(self, rows: list[QueueFit]) -> None:
        """The Pool fit table: its fixes by queue, offered in Launch batch… before a launch."""
        self._fixes = {r.queue: r.fix for r in rows if r.fix is not None}
        if isinstance(self.dialog, ProjectBatchDialog):
            self.dialog.set_fixes(self._fixes)

    def set_projects(self, projects: list[dict[str, Any]]) -> None:
        if isinstance(self.dialog, ProjectBatchDialog):
            self.dialog.set_projects(projects)

    def set_project_plan(self, answer: dict[str, Any]) -> None:
        if isinstance(self.dialog, ProjectBatchDialog):
            self.dialog.set_plan(answer)

    def open_seed_dialog(self) -> None:
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Seed demo customers")
        dialog.setLabelText(
            "How many demo customers? They are numbered from 1, each with usage for the last "
            "three months; customers that already exist are kept as they are:"
        )
        dialog.setInputMode(QInputDialog.InputMode.IntInput)
        dialog.setIntRange(1, 1_000_000)
        dialog.setIntValue(DEMO_CUSTOMERS)
        self._open(dialog)

    def _open(self, dialog: QDialog) -> None:
        """Window-modal and non-blocking (``open``, not ``exec``), so tests can drive it."""
        if isinstance(dialog, LaunchInvoicesDialog | LaunchMonitoringDialog):
            dialog.set_consumers(self.consumed)
            dialog.startWorkersRequested.connect(self.startWorkersRequested)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(self._dialog_finished)  # a bound method: no cycle via a lambda
        self.dialog = dialog
        dialog.open()

    def _dialog_finished(self, result: int) -> None:
        dialog, self.dialog = self.dialog, None
        if dialog is None or result != QDialog.DialogCode.Accepted:
            return
        if isinstance(dialog, LaunchInvoicesDialog):
            self.launchInvoicesRequested.emit(dialog.params())
        elif isinstance(dialog, LaunchMonitoringDialog):
            self.launchMonitoringRequested.emit(dialog.params())
        elif isinstance(dialog, ProjectBatchDialog):
            self.launchProjectRequested.emit(dialog.request())
        elif isinstance(dialog, QInputDialog):
            self.seedRequested.emit(dialog.intValue())

    def confirm_cancel(self) -> None:
        record = self.selected_batch()
        if record is None or not _cancellable(record):
            return
        box = QMessageBox(QMessageBox.Icon.Question, "Cancel batch", "", parent=self)
        box.setText(f"Cancel {record.kind} batch {record.id[:8]}?")
        box.setInformativeText(
            "Children that have not started are revoked. Running children finish their work "
            "unless you also stop them; stopped children count as cancelled and can be retried."
        )
        box.setCheckBox(QCheckBox("Also stop running children", box))  # parented: kept alive
        box.addButton("Cancel batch", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Keep running", QMessageBox.ButtonRole.RejectRole)
        box.setProperty("batchId", record.id)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(self._cancel_answered)
        self.cancel_box = box
        box.open()

    def _cancel_answered(self, _result: int) -> None:
        box, self.cancel_box = self.cancel_box, None
        if box is None or box.buttonRole(box.clickedButton()) != QMessageBox.ButtonRole.AcceptRole:
            return
        checkbox = box.checkBox()
        self.cancelRequested.emit(str(box.property("batchId")), bool(checkbox.isChecked()))

    def _seed_default(self) -> None:
        self.seed_button.setEnabled(False)  # once: the count comes back when seeding is done
        self.seedRequested.emit(DEMO_CUSTOMERS)

    def _retry(self) -> None:
        record = self.selected_batch()
        if record is not None and _retryable(record):
            self.retryRequested.emit(record.id)

    # -- view state --------------------------------------------------------------------------
    def _tick(self) -> None:
        if self.isVisible() and self.model.tick():
            record = self.selected_batch()
            if record is not None and not record.final:
                self.detail.show_record(record)

    def _rows_changed(self) -> None:
        self.stack.setCurrentIndex(1 if self.model.rowCount() else 0)
        self._show_detail()
        # Sized once the table is laid out: a hidden table measures only its first row.
        QTimer.singleShot(0, self, self._fit_columns)

    def _fit_columns(self) -> None:
        self.table.horizontalHeader().resizeSections()  # each section by its own mode

    def _selection_changed(self) -> None:
        record = self.selected_batch()
        self.batchSelected.emit(record.id if record else "")
        self._show_detail()

    def _show_detail(self) -> None:
        record = self.selected_batch()
        self.cancel_action.setEnabled(record is not None and _cancellable(record))
        self.retry_action.setEnabled(record is not None and _retryable(record))
        self.detail.show_record(record)

    def _action(self, icon: str, text: str, tip: str, shortcut: str | None = None) -> QAction:
        action = QAction(resources.icon(icon), text, self)
        action.setToolTip(f"{tip} ({shortcut})" if shortcut else tip)
        action.setStatusTip(tip)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        return action


def _cancellable(record: BatchRecord) -> bool:
    """Queued (the parent is revoked) or running with its children known. In between, while
    the parent is sending them, the backend would revoke only the parent: not offered."""
    return record.state == "queued" or (
        record.state == "running" and bool((record.counts or {}).get("total"))
    )


def _retryable(record: BatchRecord) -> bool:
    counts = record.counts or {}
    failed = sum(int(counts.get(k, 0)) for k in ("failed", "cancelled", "unsent"))
    return record.final and bool(record.summary) and failed > 0
