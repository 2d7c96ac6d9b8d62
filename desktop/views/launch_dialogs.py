"""Launch dialogs for the two batch kinds, checked live by the backend's own validation.

The invoice form asks ``InvoiceParams.validate()``; the monitoring form parses its URL list with
``parse_url_list`` (line numbers from ``UrlListError.problems``) and then asks
``MonitorParams.validate()``. Problems show in red under the form as they appear, notes (such as
dropped duplicates) in amber, and OK stays disabled while anything is wrong: invalid input never
leaves the dialog.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from pooldesk.backend.batches.params import (
    MAX_CHUNK,
    MAX_CUSTOMERS,
    MAX_URLS_PER_TASK,
    InvoiceParams,
    MonitorParams,
    ParamError,
)
from pooldesk.backend.batches.service import ORCHESTRATION
from pooldesk.backend.invoices.billing import recent_periods
from pooldesk.backend.monitoring.urls import (
    UrlFileError,
    UrlListError,
    parse_url_list,
    read_url_list,
)
from pooldesk.desktop.views.dialog_buttons import enter_means
from pooldesk.desktop.views.messages import fit_height, show_list

LISTED_LINES = 5  # URL problems shown before "and N more"
BIG_TEXT = 50_000  # characters: above this the URL list is checked after a pause in typing


class _LaunchDialog(QDialog):
    """The shared bottom half: hint, red problems, amber notes, OK / Cancel; and, when no
    running worker consumes ``orchestration`` or the batch's queue, a note saying the batch
    would wait, with a button that starts the missing workers from the presets."""

    startWorkersRequested = Signal(list)  # queues no running worker consumes

    def __init__(self, parent: QWidget | None, title: str, ok_text: str) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self._consumed: set[str] | None = None  # None: not known (no worker list yet)
        self.form = QFormLayout()
        self.hint_label = _label("hint")
        self.problems_label = _label("problems")
        self.warnings_label = _label("warnings")
        self.start_workers_button = QPushButton()
        self.start_workers_button.setAutoDefault(False)  # Enter in a field never starts workers
        self.start_workers_button.setVisible(False)
        self.start_workers_button.clicked.connect(self._start_workers_clicked)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button: QPushButton = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(ok_text)
        enter_means(self.ok_button, self.buttons)  # Enter never cancels
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        for label in (self.hint_label, self.problems_label, self.warnings_label):
            layout.addWidget(label)
        starter = QHBoxLayout()
        starter.addWidget(self.start_workers_button)
        starter.addStretch(1)
        layout.addLayout(starter)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(540)

    def accept(self) -> None:
        if self.ok_button.isEnabled():  # Enter in a field must not get past the checks
            super().accept()

    def set_consumers(self, queues: set[str] | None) -> None:
        """The queues running workers consume (``None``: not known yet)."""
        self._consumed = None if queues is None else set(queues)
        self._validate()

    def _validate(self) -> None:
        raise NotImplementedError

    def _queue(self) -> str:
        raise NotImplementedError

    def missing_queues(self) -> list[str]:
        """``orchestration`` and the batch's queue, those no running worker consumes."""
        if self._consumed is None:
            return []
        wanted = [ORCHESTRATION, self._queue()]
        return [q for q in dict.fromkeys(wanted) if q and q not in self._consumed]

    def _start_workers_clicked(self) -> None:
        missing = self.missing_queues()
        if missing:
            self.start_workers_button.setEnabled(False)
            self.start_workers_button.setText("Starting…")
            self.startWorkersRequested.emit(missing)

    def _show(self, problems: list[str], warnings: list[str], hint: str, ready: bool) -> None:
        missing = self.missing_queues()
        if missing:
            names = " and ".join(missing)
            what = "a worker" if len(missing) == 1 else "workers"
            warnings = [
                *warnings,
                f"No running worker consumes {names}: the batch would wait, queued, until "
                f"{what} on {'it' if len(missing) == 1 else 'them'} start"
                f"{'s' if len(missing) == 1 else ''} ({ORCHESTRATION} coordinates every batch).",
            ]
            if self.start_workers_button.isEnabled():
                self.start_workers_button.setText(f"Start {what} on {names}")
        else:
            self.start_workers_button.setEnabled(True)
        self.start_workers_button.setVisible(bool(missing))
        show_list(self.problems_label, problems)
        show_list(self.warnings_label, warnings)
        self.hint_label.setText(hint)
        self.hint_label.setVisible(bool(hint))
        self.ok_button.setEnabled(ready and not problems)
        self.ok_button.setToolTip(
            "" if self.ok_button.isEnabled() else "Launch is off until: " + "; ".join(problems)
        )
        fit_height(self, 540)


class LaunchInvoicesDialog(_LaunchDialog):
    def __init__(self, parent: QWidget | None = None, customers_in_db: int = -1) -> None:
        super().__init__(parent, "Launch invoices", "&Launch")
        self._in_db = customers_in_db
        self.all_check = QCheckBox("&All customers")
        self.all_check.setChecked(True)
        self.customers_spin = _spin(0, MAX_CUSTOMERS, 1000)
        self.customers_spin.setEnabled(False)
        self.customers_spin.setToolTip("Bill the first N customers (by id)")
        self.period_combo = QComboBox()
        self.period_combo.setEditable(True)
        self.period_combo.addItems(list(reversed(recent_periods(6))))  # last month first
        self.period_combo.setToolTip("The billing month, YYYY-MM")
        self.chunk_spin = _spin(1, MAX_CHUNK, 500)
        self.chunk_spin.setSuffix(" customers per task")
        self.chunk_spin.setToolTip(
            f"1 to {MAX_CHUNK:,} customers per task: smaller chunks spread and retry better"
        )
        self.queue_edit = QLineEdit("invoices")
        who = QHBoxLayout()
        who.addWidget(self.customers_spin, 1)
        who.addWidget(self.all_check)
        self.form.addRow(_buddy("&Customers:", self.customers_spin), who)
        self.form.addRow("&Period:", self.period_combo)
        self.form.addRow("C&hunk size:", self.chunk_spin)
        self.form.addRow("&Queue:", self.queue_edit)

        self.all_check.toggled.connect(self.customers_spin.setDisabled)
        self.all_check.toggled.connect(self._validate)
        self.customers_spin.valueChanged.connect(self._validate)
        self.period_combo.currentTextChanged.connect(self._validate)
        self.chunk_spin.valueChanged.connect(self._validate)
        self.queue_edit.textChanged.connect(self._validate)
        self.set_customer_count(customers_in_db)

    def set_customer_count(self, count: int) -> None:
        """How many customers the database has (-1: unknown); the form says what "all" means."""
        self._in_db = count
        known = f" ({count:,} in the database)" if count >= 0 else ""
        self.all_check.setText(f"&All customers{known}")
        self._validate()

    def params(self) -> InvoiceParams:
        return InvoiceParams(
            period=self.period_combo.currentText().strip(),
            customers=None if self.all_check.isChecked() else self.customers_spin.value(),
            chunk_size=self.chunk_spin.value(),
            queue=self.queue_edit.text().strip(),
        )

    def _queue(self) -> str:
        return self.queue_edit.text().strip()

    def problems(self) -> list[str]:
        out = []
        if self._in_db == 0:  # nothing to bill: launching would only make an empty batch
            out.append(
                "the invoice database has no customers yet: seed demo data first "
                "(Batches ▸ Seed demo customers…)"
            )
        try:
            self.params().validate()
        except ParamError as exc:
            # "period: period '2026-13': …" reads better once
            out += [p.replace("period: period ", "period ", 1) for p in exc.problems]
        return out

    def _validate(self) -> None:
        params, warnings, hint = self.params(), [], ""
        count = params.customers if params.customers is not None else self._in_db
        if self._in_db == 0:
            pass  # a problem (problems()), not a note: Launch is off
        elif params.customers and self._in_db > 0 and params.customers > self._in_db:
            warnings.append(f"Only {self._in_db:,} customers exist; the rest are reported missing")
            count = self._in_db
        if count and count > 0 and params.chunk_size > 0:
            chunks = -(-count // params.chunk_size)
            hint = f"{count:,} customers → {chunks:,} task{'s' if chunks != 1 else ''}"
        self._show(self.problems(), warnings, hint, ready=True)


class LaunchMonitoringDialog(_LaunchDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, "Launch monitoring", "&Launch")
        self._urls: tuple[str, ...] = ()
        self.urls_edit = QPlainTextEdit()
        self.urls_edit.setPlaceholderText(
            "One URL per line, e.g.\nhttps://example.com/health\n# comments start with #"
        )
        self.urls_edit.setTabChangesFocus(True)
        self.urls_edit.setMinimumHeight(160)
        self.load_button = QPushButton("Load &file…")
        self.load_button.clicked.connect(self._choose_file)
        self.timeout_spin = QDoubleSpinBox()
        self.timeout_spin.setRange(0.1, 300.0)
        self.timeout_spin.setDecimals(1)
        self.timeout_spin.setValue(10.0)
        self.timeout_spin.setSuffix(" s")
        self.timeout_spin.setToolTip("Read timeout per request; connecting gets at most 3 s")
        self.per_task_spin = _spin(0, MAX_URLS_PER_TASK, 0)
        self.per_task_spin.setSpecialValueText("automatic")  # 0: chosen from the list's size
        self.per_task_spin.setToolTip(
            "URLs one task checks concurrently; automatic: about 1/20 of the list, at most 100"
        )
        self.queue_edit = QLineEdit("monitoring")
        top = QHBoxLayout()
        top.addWidget(QLabel("One per line; '#' starts a comment; duplicates are dropped."), 1)
        top.addWidget(self.load_button)
        self.form.addRow(_buddy("&URLs:", self.urls_edit), top)
        self.form.addRow(self.urls_edit)
        self.form.addRow("&Timeout:", self.timeout_spin)
        self.form.addRow("URLs &per task:", self.per_task_spin)
        self.form.addRow("&Queue:", self.queue_edit)
        self.setMinimumWidth(620)

        self._pause = QTimer(self)
        self._pause.setSingleShot(True)
        self._pause.setInterval(300)
        self._pause.timeout.connect(self._validate)
        self.urls_edit.textChanged.connect(self._text_changed)
        self.timeout_spin.valueChanged.connect(self._validate)
        self.queue_edit.textChanged.connect(self._validate)
        self._validate()

    def _queue(self) -> str:
        return self.queue_edit.text().strip()

    def params(self) -> MonitorParams:
        return MonitorParams(
            urls=self._urls,
            timeout=self.timeout_spin.value(),
            queue=self.queue_edit.text().strip(),
            urls_per_task=self.per_task_spin.value() or None,
        )

    def load_file(self, path: str | Path) -> bool:
        """Put a URL file in the editor; a file that can't be used is said so, not loaded."""
        try:
            read_url_list(path)
        except UrlFileError as exc:
            self._show([str(exc)], [], "", ready=False)
            return False
        except UrlListError:
            pass  # its lines are shown, with their numbers, once it is in the editor
        self.urls_edit.setPlainText(Path(path).read_text(encoding="utf-8"))
        self._validate()
        return True

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Load URL list", str(Path.home()), "Text files (*.txt *.list);;All files (*)"
        )
        if path:
            self.load_file(path)

    def _text_changed(self) -> None:
        self.ok_button.setEnabled(False)  # until the new text has been checked
        if len(self.urls_edit.toPlainText()) > BIG_TEXT:
            self._pause.start()
        else:
            self._validate()

    def _validate(self) -> None:
        self._pause.stop()
        text = self.urls_edit.toPlainText()
        problems, warnings, hint, self._urls = [], [], "", ()
        try:
            parsed = parse_url_list(text)
        except UrlListError as exc:
            if exc.problems:
                problems = [
                    f"line {n}: {_short(line)} — {reason}"
                    for n, line, reason in exc.problems[:LISTED_LINES]
                ]
                if len(exc.problems) > LISTED_LINES:
                    problems.append(f"and {len(exc.problems) - LISTED_LINES:,} more")
            elif text.strip():  # a list of only comments, or too many URLs
                problems = [str(exc)]
        else:
            self._urls = tuple(parsed.urls)
            note = parsed.duplicate_note()
            warnings = [note] if note else []
            hint = f"{len(parsed.urls):,} URL{'s' if len(parsed.urls) != 1 else ''} to check"
        # The other fields are checked at once, whatever the URL list says (a queue error was
        # hidden until every URL was right): with no usable URL yet, a stand-in takes its place.
        try:
            replace(self.params(), urls=self._urls or ("https://example.com/",)).validate()
        except ParamError as exc:
            problems += exc.problems
        self._show(problems, warnings, hint, ready=bool(self._urls))


def _short(text: str, limit: int = 48) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _buddy(text: str, widget: QWidget) -> QLabel:
    """A form label whose mnemonic focuses ``widget`` (a row holding a layout has no buddy)."""
    label = QLabel(text)
    label.setBuddy(widget)
    return label


def _label(name: str) -> QLabel:
    label = QLabel()
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setVisible(False)
    return label


def _spin(low: int, high: int, value: int) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setGroupSeparatorShown(True)
    spin.setAccelerated(True)
    spin.setValue(value)
    return spin
