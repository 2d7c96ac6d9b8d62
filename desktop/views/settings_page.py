"""The Settings page: the fields of ``settings.json``, checked as you type, saved on request.

Checks are the backend's (``Settings.validate()``, ``WorkerSpec.problems()`` for presets), shown
inline; Save stays disabled while anything is wrong, so an invalid file is never written. Fields
pinned by an environment variable (``POOLDESK_BROKER_URL``…) are shown read-only with the
variable's name, and the file keeps its own value for them. A broker password is never shown:
it sits in its own masked field, split from (and joined back into) the URL. Advisor thresholds
are labelled in plain words with their units, and edited in MiB or % where the file keeps bytes
or a fraction.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractSpinBox,
    QButtonGroup,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from backend.advisor.model import Thresholds
from backend.projects.model import DEMO
from backend.projects.store import ProjectStore
from backend.redact import mask_url
from backend.settings import ENV_OVERRIDES, Settings
from backend.workers.priority import NICE_ENV
from backend.workers.spec import POOLS, available_pools
from desktop import presets as presets_mod
from desktop.shell.settings_hub import SettingsHub
from desktop.views.messages import show_list
from desktop.views.projects_section import ProjectsSection
from desktop.views.start_dialog import fill_pool_combo

_URL = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?:(?P<user>[^:@/]*)(?::(?P<pw>[^@/]*))?@)?(?P<rest>.*)$"
)
PRESET_COLUMNS = ("Name", "Pool", "Concurrency", "Queues", "Project")
MiB = 2**20


@dataclass(frozen=True)
class ThresholdField:
    """How one advisor threshold is shown: in plain words, with its unit, and what it does.

    ``scale`` converts the shown number to the stored one (MiB → bytes, % → fraction), so
    ``settings.json`` keeps the units of ``Thresholds``."""

    label: str
    tooltip: str
    suffix: str = ""
    decimals: int = 0
    scale: float = 1
    maximum: float = 1_000_000


THRESHOLD_FIELDS = {
    "fit_min_runs": ThresholdField(
        "Runs measured before a queue's nature counts:",
        "The in-worker probe measures every task run; a queue's nature (cpu, blocking, io, "
        "mixed) and the advice resting on it wait for at least this many runs.",
        " runs",
        maximum=100_000,
    ),
    "fit_hold_ms": ThresholdField(
        "Loop hold that every greenlet feels:",
        "A gevent task that holds the event loop this long at once (CPU work or a blocking C "
        "call such as a database driver) stalls every other greenlet of its worker.",
        " ms",
        maximum=600_000,
    ),
    "fit_min_wall_ms": ThresholdField(
        "Tasks shorter than this are not judged:",
        "Tasks that take less than this in all are too short for their nature to matter: no "
        "pool-fit finding rests on them.",
        " ms",
        maximum=600_000,
    ),
    "trial_concurrency": ThresholdField(
        "Greenlets of a gevent trial worker:",
        "When I/O measured under prefork might suit gevent, the fix starts a small gevent "
        "worker of this many greenlets beside it to find out whether the tasks yield.",
        " greenlets",
        maximum=10_000,
    ),
    "lag_ms": ThresholdField(
        "Event-loop lag that means blocked:",
        "A gevent worker whose event loop wakes up this late (the in-worker probe measures it "
        "every second) counts as blocked: CPU-bound work is holding the loop.",
        " ms",
        maximum=600_000,
    ),
    "blocked_reports": ThresholdField(
        "Blocked-loop reports that mean blocked:",
        "A gevent worker also counts as blocked when gevent's own monitor reports its loop "
        "blocked at least this many times within the last 10 seconds.",
        " reports",
    ),
    "gevent_single_core": ThresholdField(
        "Blocked gevent worker using at most:",
        "A blocked gevent worker whose processes use no more than this many cores is running "
        "its CPU-bound tasks one after another: the warning becomes critical (measured). Well "
        "above one core the blocking comes from elsewhere and only the prediction is shown.",
        " cores",
        decimals=2,
        maximum=1024,
    ),
    "io_prefork_min_concurrency": ThresholdField(
        "Prefork too wide for I/O work from:",
        "A prefork worker with at least this many processes that only consumes I/O-bound "
        "queues gets a warning: a gevent worker waits on the network with far less memory.",
        " processes",
        maximum=100_000,
    ),
    "ram_available_fraction": ThresholdField(
        "Memory low below (share of RAM):",
        "Critical warning when the machine's available RAM falls below this share of its "
        "total, or below the amount in the next field, whichever is larger.",
        " %",
        decimals=1,
        scale=0.01,
        maximum=100,
    ),
    "ram_available_min_bytes": ThresholdField(
        "Memory low below (amount):",
        "Critical warning when available RAM falls below this amount, or below the share of "
        "RAM in the field above, whichever is larger.",
        " MiB",
        decimals=1,
        scale=MiB,
    ),
    "uss_growth_bytes_per_min": ThresholdField(
        "Worker memory growth that looks like a leak:",
        "A local worker whose memory (USS, measured over up to 10 minutes) grows at least this "
        "fast gets a warning with a restart fix: a leaking task grows until the machine swaps.",
        " MiB/min",
        decimals=1,
        scale=MiB,
    ),
    "crash_loop_starts": ThresholdField(
        "Automatic restarts after a crash:",
        "A local worker that crashes is restarted by its supervisor, at most this many times "
        "within the crash-loop window; one crash more and it stays down with a critical "
        '"keeps crashing" warning.',
        " restarts",
        maximum=1000,
    ),
    "crash_loop_minutes": ThresholdField(
        "Crash-loop window:",
        "The period over which crashes are counted for the automatic restarts above.",
        " min",
        decimals=1,
        maximum=100_000,
    ),
    "raise_after": ThresholdField(
        "Show a warning after:",
        "A condition must be seen in this many consecutive checks (about one a second) before "
        "its warning shows, so one odd sample does not raise it. Crashes and an unreachable "
        "broker show at once.",
        " checks",
        maximum=10_000,
    ),
    "clear_after": ThresholdField(
        "Clear a warning after:",
        "A warning goes away once its condition has been absent from this many consecutive "
        "checks (about one a second), so it does not flicker.",
        " clean checks",
        maximum=10_000,
    ),
}
NICE_HINT = (
    "CPU priority (nice value) of the local workers Pooldesk starts: 0 runs them at the same "
    "priority as this window, 19 is the lowest. A higher value keeps the window responsive "
    "while workers saturate every core; an idle core is still used in full. Applies to "
    "workers started afterwards."
)
RESTART_NOTE = (
    "Broker, result backend, timings and advisor thresholds apply the next time Pooldesk "
    "starts; presets apply now; worker priority applies to workers started from now on."
)


def split_password(url: str) -> tuple[str, str]:
    """``redis://:pw@host/0`` → (``redis://host/0``, ``pw``); the raw text, nothing decoded."""
    match = _URL.match(url)
    if not match or match["pw"] is None:
        return url, ""
    user = match["user"] or ""
    return f"{match['scheme']}{user + '@' if user else ''}{match['rest']}", match["pw"]


def join_password(url: str, password: str) -> str:
    """The inverse of :func:`split_password`; a password typed into the URL itself wins."""
    match = _URL.match(url)
    if not password or not match or match["pw"] is not None:
        return url
    return f"{match['scheme']}{match['user'] or ''}:{password}@{match['rest']}"


class SettingsPage(QWidget):
    title = "Settings"
    saved = Signal(object)  # Settings, as written (without environment overrides)

    def __init__(self, hub: SettingsHub, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hub = hub
        self._file = hub.file
        self._env_values: dict[str, str] = {}
        self._loading = False

        # -- broker and stores ---------------------------------------------------------------
        self.managed_radio = QRadioButton("&Managed: Pooldesk runs a local redis-server")
        self.external_radio = QRadioButton("&External broker:")
        self._broker_group = QButtonGroup(self)
        self._broker_group.addButton(self.managed_radio)
        self._broker_group.addButton(self.external_radio)
        self.broker_url_edit = QLineEdit()
        self.broker_url_edit.setPlaceholderText("redis://host:6379/0 or amqp://user@host//")
        self.broker_password_edit = QLineEdit()
        self.broker_password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.broker_password_edit.setPlaceholderText("password (kept out of the URL shown)")
        self.result_backend_edit = QLineEdit()
        self.result_backend_edit.setPlaceholderText("empty: the broker's redis")
        self.invoice_db_edit = QLineEdit()
        self.invoice_db_edit.setPlaceholderText("empty: a SQLite file under the Pooldesk home")
        self.env_notes: dict[str, QLabel] = {}

        broker_box = QGroupBox("Broker and stores")
        broker_form = QFormLayout(broker_box)
        broker_form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        broker_form.addRow(self.managed_radio)
        external_row = QHBoxLayout()
        external_row.addWidget(self.external_radio)
        external_row.addWidget(self.broker_url_edit, 1)
        broker_form.addRow(external_row)
        broker_form.addRow("Broker &password:", self.broker_password_edit)
        self._env_note(broker_form, "broker_url")
        broker_form.addRow("&Result backend:", self.result_backend_edit)
        self._env_note(broker_form, "result_backend")
        broker_form.addRow("&Invoice database:", self.invoice_db_edit)
        self._env_note(broker_form, "invoice_db")

        # -- workers and timings -------------------------------------------------------------
        self.sampling_spin = self._seconds(1000, 2)
        self.stop_spin = self._seconds(100_000, 0)
        self.start_spin = self._seconds(100_000, 0)
        self.visibility_spin = self._seconds(10_000_000, 0)
        self.nice_spin = QSpinBox()
        self.nice_spin.setRange(-20, 99)  # wider than valid: the checks say what is wrong
        self.nice_spin.setToolTip(NICE_HINT)
        timing_box = QGroupBox("Workers and timings")
        timing_form = self._form(timing_box)
        timing_form.addRow("Sampling &interval:", self.sampling_spin)
        timing_form.addRow("S&top timeout:", self.stop_spin)
        timing_form.addRow("St&art timeout:", self.start_spin)
        timing_form.addRow("&Visibility timeout:", self.visibility_spin)
        nice_row = QHBoxLayout()
        nice_row.addWidget(self.nice_spin)
        nice_scale = QLabel("0 = same as the window, 19 = lowest")
        nice_scale.setObjectName("hint")
        nice_row.addWidget(nice_scale)
        nice_label = QLabel("Worker CPU &priority (nice):")
        nice_label.setBuddy(self.nice_spin)
        nice_label.setToolTip(NICE_HINT)
        timing_form.addRow(nice_label, nice_row)
        self._env_note(timing_form, "worker_nice")
        for spin_hint, hint in (
            (self.sampling_spin, "Seconds between two CPU and memory samples (charts, advisor)."),
            (self.stop_spin, "How long a warm stop waits for running tasks before going cold."),
            (self.start_spin, "How long a start waits for the worker's first ping reply."),
            (
                self.visibility_spin,
                "Redis only: after this long, a message held by a worker that died whole is "
                "delivered again. Keep it longer than your longest task.",
            ),
        ):
            spin_hint.setToolTip(hint)
            label = timing_form.labelForField(spin_hint)
            if label is not None:
                label.setToolTip(hint)
        self._same_width(
            [
                self.sampling_spin,
                self.stop_spin,
                self.start_spin,
                self.visibility_spin,
                self.nice_spin,
            ]
        )

        # -- advisor -------------------------------------------------------------------------
        self.threshold_spins: dict[str, QSpinBox | QDoubleSpinBox] = {}
        self._threshold_shown: dict[str, tuple[float, Any]] = {}  # as loaded: (shown, stored)
        advisor_box = QGroupBox("Advisor thresholds")
        advisor_form = self._form(advisor_box)
        defaults = Thresholds()
        for f in fields(Thresholds):
            default = getattr(defaults, f.name)
            spec = THRESHOLD_FIELDS.get(f.name) or ThresholdField(
                f"{f.name.replace('_', ' ').capitalize()}:",
                "",
                decimals=0 if isinstance(default, int) else 2,
            )
            spin: QSpinBox | QDoubleSpinBox
            if spec.decimals == 0 and spec.scale == 1:
                spin = QSpinBox()
                spin.setRange(0, int(spec.maximum))
            else:
                spin = QDoubleSpinBox()
                spin.setDecimals(spec.decimals)
                spin.setRange(0, spec.maximum)
            spin.setSuffix(spec.suffix)
            spin.setAccelerated(True)
            spin.setToolTip(spec.tooltip)
            spin.valueChanged.connect(self._changed)
            self.threshold_spins[f.name] = spin
            label = QLabel(spec.label)
            label.setToolTip(spec.tooltip)
            label.setBuddy(spin)
            advisor_form.addRow(label, spin)
        self._same_width(list(self.threshold_spins.values()))

        # -- presets -------------------------------------------------------------------------
        self.presets_table = QTableWidget(0, len(PRESET_COLUMNS))
        self.presets_table.setHorizontalHeaderLabels(list(PRESET_COLUMNS))
        self.presets_table.verticalHeader().setVisible(False)
        self.presets_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.presets_table.horizontalHeader()
        # Name and concurrency fit their text ("Orchestration" in full), the pool column its
        # combo box (add_preset widens it), the queues take the rest.
        for column in (0, 2):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.ResizeToContents)
        self.presets_table.setMinimumHeight(150)
        self.presets_table.itemChanged.connect(self._changed)
        self.add_preset_button = QPushButton("&Add preset")
        self.remove_preset_button = QPushButton("Re&move preset")
        self.add_preset_button.clicked.connect(self._add_preset_clicked)
        self.remove_preset_button.clicked.connect(self._remove_preset)
        presets_box = QGroupBox("Worker presets (Workers ▸ Start from preset)")
        presets_column = QVBoxLayout(presets_box)
        presets_column.addWidget(self.presets_table)
        buttons_row = QHBoxLayout()
        buttons_row.addWidget(self.add_preset_button)
        buttons_row.addWidget(self.remove_preset_button)
        buttons_row.addStretch(1)
        presets_column.addLayout(buttons_row)

        # -- messages and buttons ------------------------------------------------------------
        self.problems_label = QLabel()
        self.problems_label.setObjectName("problems")
        self.problems_label.setWordWrap(True)
        self.status_label = QLabel()
        self.status_label.setObjectName("hint")
        self.status_label.setWordWrap(True)
        self.save_button = QPushButton("&Save")
        self.revert_button = QPushButton("Re&vert")
        self.save_button.clicked.connect(self.save)
        self.revert_button.clicked.connect(self.reload)

        # Broker across the top; below it two columns: workers, timings and presets on the
        # left, the advisor's thresholds on the right (short numeric fields, side by side).
        body = QWidget()
        column = QVBoxLayout(body)
        column.addWidget(broker_box)
        self.projects_section = ProjectsSection()  # saved on their own, not by Save below
        column.addWidget(self.projects_section)
        columns = QHBoxLayout()
        left = QVBoxLayout()
        left.addWidget(timing_box)
        left.addWidget(presets_box, 1)
        columns.addLayout(left, 1)
        right = QVBoxLayout()
        right.addWidget(advisor_box)
        right.addStretch(1)
        columns.addLayout(right)
        column.addLayout(columns)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status_label, 1)
        bottom.addWidget(self.revert_button)
        bottom.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.problems_label)
        layout.addLayout(bottom)

        for edit in (
            self.broker_url_edit,
            self.broker_password_edit,
            self.result_backend_edit,
            self.invoice_db_edit,
        ):
            edit.textChanged.connect(self._changed)
        for spin_box in (
            self.sampling_spin,
            self.stop_spin,
            self.start_spin,
            self.visibility_spin,
            self.nice_spin,
        ):
            spin_box.valueChanged.connect(self._changed)
        self.managed_radio.toggled.connect(self._changed)
        # Saved elsewhere (File ▸ Serve Prometheus metrics): the fields this page does not
        # show follow, the form keeps what the user typed.
        hub.settingsChanged.connect(self._hub_changed)
        self.reload()

    # -- loading -----------------------------------------------------------------------------
    def reload(self) -> None:
        """Show the file's values (and the environment's, read-only where they override)."""
        self._loading = True
        try:
            self._file = self.hub.file
            self._env_values = self.hub.env_values()
            s = self._file
            broker = self._env_values.get("broker_url", s.broker_url)
            url, password = split_password(broker or "")
            self.external_radio.setChecked(bool(broker))
            self.managed_radio.setChecked(not broker)
            self.broker_url_edit.setText(url)
            self.broker_password_edit.setText(password)
            self.result_backend_edit.setText(
                self._env_values.get("result_backend", s.result_backend or "")
            )
            self.invoice_db_edit.setText(self._env_values.get("invoice_db", s.invoice_db or ""))
            self.sampling_spin.setValue(s.sampling_interval)
            self.stop_spin.setValue(s.stop_timeout)
            self.start_spin.setValue(s.start_timeout)
            self.visibility_spin.setValue(s.visibility_timeout)
            self.nice_spin.setValue(s.worker_nice)
            nice_env = os.environ.get(NICE_ENV)  # wins over the file for the workers started
            self.env_notes["worker_nice"].setText(
                f"{NICE_ENV}={nice_env} is set: workers started from here use that"
                if nice_env
                else ""
            )
            self.env_notes["worker_nice"].setVisible(bool(nice_env))
            thresholds = Thresholds.from_settings(s.advisor)
            for name, spin in self.threshold_spins.items():
                stored = getattr(thresholds, name)
                spin.setValue(stored / self._scale(name))
                self._threshold_shown[name] = (spin.value(), stored)
            self.presets_table.setRowCount(0)
            for preset in presets_mod.effective_presets(s.presets):
                self.add_preset(preset)
            self._apply_env_overrides()
        finally:
            self._loading = False
        self.status_label.clear()
        self._validate()

    def _apply_env_overrides(self) -> None:
        pinned = {
            "broker_url": [
                self.managed_radio,
                self.external_radio,
                self.broker_url_edit,
                self.broker_password_edit,
            ],
            "result_backend": [self.result_backend_edit],
            "invoice_db": [self.invoice_db_edit],
        }
        for name, widgets in pinned.items():
            env = name in self._env_values
            for widget in widgets:
                if isinstance(widget, QLineEdit):
                    widget.setReadOnly(env)
                else:
                    widget.setEnabled(not env)
            self.env_notes[name].setText(f"set by {ENV_OVERRIDES[name]}" if env else "")
            self.env_notes[name].setVisible(env)
        if "result_backend" in self._env_values:  # shown, never with its password
            self.result_backend_edit.setText(mask_url(self._env_values["result_backend"]) or "")
        if "invoice_db" in self._env_values:
            self.invoice_db_edit.setText(mask_url(self._env_values["invoice_db"]) or "")

    # -- presets table -----------------------------------------------------------------------
    def add_preset(self, preset: dict[str, Any] | None = None) -> int:
        preset = preset or {
            "name": "",
            "pool": available_pools()[0],
            "concurrency": 1,
            "queues": ["default"],
        }
        row = self.presets_table.rowCount()
        was_loading, self._loading = self._loading, True
        try:
            self.presets_table.insertRow(row)
            self.presets_table.setItem(row, 0, QTableWidgetItem(str(preset.get("name", ""))))
            combo = QComboBox()
            fill_pool_combo(combo)
            pool = str(preset.get("pool", "prefork"))
            if pool not in POOLS:
                combo.addItem(pool)
            combo.setCurrentText(pool)
            combo.currentTextChanged.connect(self._changed)
            self.presets_table.setCellWidget(row, 1, combo)
            pool_width = combo.sizeHint().width() + 8
            if self.presets_table.columnWidth(1) < pool_width:
                self.presets_table.setColumnWidth(1, pool_width)
            self.presets_table.setItem(row, 2, QTableWidgetItem(str(preset.get("concurrency", ""))))
            queues = ", ".join(presets_mod.queues_of(preset))
            self.presets_table.setItem(row, 3, QTableWidgetItem(queues))
            self.presets_table.setCellWidget(row, 4, self._project_combo(preset))
        finally:
            self._loading = was_loading
        self._changed()
        return row

    def _project_combo(self, preset: dict[str, Any]) -> QComboBox:
        """Which project a preset's workers run: the demo, or one of Settings ▸ Projects."""
        combo = QComboBox()
        names = [DEMO, *ProjectStore().names()]
        wanted = str(preset.get("project") or DEMO)
        combo.addItems(names if wanted in names else [*names, wanted])
        combo.setCurrentText(wanted)
        combo.currentTextChanged.connect(self._changed)
        return combo

    def _add_preset_clicked(self) -> None:
        row = self.add_preset()
        self.presets_table.setCurrentCell(row, 0)
        self.presets_table.editItem(self.presets_table.item(row, 0))

    def _remove_preset(self) -> None:
        rows = sorted({index.row() for index in self.presets_table.selectedIndexes()}, reverse=True)
        if not rows and self.presets_table.currentRow() >= 0:
            rows = [self.presets_table.currentRow()]
        for row in rows:
            self.presets_table.removeRow(row)
        self._changed()

    def presets(self) -> list[dict[str, Any]]:
        out = []
        for row in range(self.presets_table.rowCount()):
            combo = self.presets_table.cellWidget(row, 1)
            concurrency_text = self._cell(row, 2)
            concurrency: Any = (
                int(concurrency_text) if concurrency_text.isdigit() else concurrency_text
            )
            preset: dict[str, Any] = {
                "name": self._cell(row, 0),
                "pool": combo.currentText() if isinstance(combo, QComboBox) else "",
                "concurrency": concurrency,
                "queues": list(presets_mod.queues_of({"queues": self._cell(row, 3)})),
            }
            project = self.presets_table.cellWidget(row, 4)
            if isinstance(project, QComboBox) and project.currentText() not in ("", DEMO):
                preset["project"] = project.currentText()
            out.append(preset)
        return out

    def _cell(self, row: int, column: int) -> str:
        item = self.presets_table.item(row, column)
        return item.text().strip() if item is not None else ""

    # -- the settings the form describes -----------------------------------------------------
    def settings(self) -> Settings:
        """What Save would write: the form's values; the file's for env-pinned fields."""
        s = self._file
        advisor = dict(s.advisor)  # keeps keys the form does not show (queue_nature)
        defaults = Thresholds()
        for name, spin in self.threshold_spins.items():
            value = self._threshold_value(name, spin.value())
            if value == getattr(defaults, name):
                advisor.pop(name, None)
            else:
                advisor[name] = value
        presets = self.presets()
        if not s.presets and presets == presets_mod.default_presets():
            presets = []  # still the defaults: keep following them (prefork × cores)
        broker = (
            join_password(self.broker_url_edit.text().strip(), self.broker_password_edit.text())
            if self.external_radio.isChecked()
            else ""
        )
        return replace(
            s,
            broker_url=(s.broker_url if "broker_url" in self._env_values else (broker or None)),
            result_backend=(
                s.result_backend
                if "result_backend" in self._env_values
                else self.result_backend_edit.text().strip() or None
            ),
            invoice_db=(
                s.invoice_db
                if "invoice_db" in self._env_values
                else self.invoice_db_edit.text().strip() or None
            ),
            sampling_interval=self.sampling_spin.value(),
            stop_timeout=self.stop_spin.value(),
            start_timeout=self.start_spin.value(),
            visibility_timeout=self.visibility_spin.value(),
            worker_nice=self.nice_spin.value(),
            advisor=advisor,
            presets=presets,
        )

    def problems(self) -> list[str]:
        settings = self.settings()
        out = [mask_url(p) or p for p in settings.validate()]
        if (
            "broker_url" not in self._env_values
            and self.external_radio.isChecked()
            and not self.broker_url_edit.text().strip()
        ):
            out.append("broker_url: give the external broker's URL, or choose Managed")
        seen: set[str] = set()
        for number, preset in enumerate(self.presets(), start=1):
            label = f"preset {number}" + (f" ({preset['name']})" if preset["name"] else "")
            out += [f"{label}: {p}" for p in presets_mod.problems(preset)]
            key = preset["name"].lower()
            if key and key in seen:
                out.append(f"{label}: another preset has this name")
            seen.add(key)
        return out

    def save(self) -> bool:
        """Write settings.json (0600); False, with the reason shown, when it was not written."""
        problems = self.problems()
        if problems:
            self._validate()
            return False
        settings = self.settings()
        try:
            path = self.hub.save(settings)
        except (OSError, ValueError) as exc:
            self.status_label.setText(f"Not saved: {mask_url(str(exc))}")
            return False
        self._file = settings
        self.status_label.setText(f"Saved to {path}. {RESTART_NOTE}")
        self.saved.emit(settings)
        return True

    def _hub_changed(self, _settings: Settings) -> None:
        self._file = self.hub.file

    # -- live checks -------------------------------------------------------------------------
    def _changed(self, *_args: object) -> None:
        if not self._loading:
            self.status_label.clear()  # "Saved…" no longer describes the form
            self._validate()

    def _validate(self) -> None:
        external = self.external_radio.isChecked() and "broker_url" not in self._env_values
        self.broker_url_edit.setEnabled(external)
        self.broker_password_edit.setEnabled(external)
        problems = self.problems()
        show_list(self.problems_label, problems)
        self.save_button.setEnabled(not problems)
        self.save_button.setToolTip("" if not problems else "Fix the fields first")
        if problems:
            self.status_label.clear()

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _scale(name: str) -> float:
        spec = THRESHOLD_FIELDS.get(name)
        return spec.scale if spec is not None else 1

    def _threshold_value(self, name: str, shown: float) -> Any:
        """The value to store for what the field shows: bytes for MiB, a fraction for %. A
        field left as loaded keeps the stored value exactly (no rounding through MiB)."""
        loaded = self._threshold_shown.get(name)
        if loaded is not None and loaded[0] == shown:
            return loaded[1]
        if self._scale(name) == 1:
            return shown
        value = shown * self._scale(name)
        if isinstance(getattr(Thresholds(), name), int):
            return round(value)
        return round(value, 6)

    @staticmethod
    def _form(box: QGroupBox) -> QFormLayout:
        """Numeric fields keep their natural width instead of spanning the window."""
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return form

    @staticmethod
    def _same_width(spins: Sequence[QAbstractSpinBox]) -> None:
        """One width for a column of fields (the widest one's), so they line up."""
        width = max(spin.sizeHint().width() for spin in spins)
        for spin in spins:
            spin.setMinimumWidth(width)

    def _seconds(self, maximum: float, decimals: int) -> QDoubleSpinBox:
        """Wider than the valid range on purpose: the checks say what is wrong, inline."""
        spin = QDoubleSpinBox()
        spin.setDecimals(decimals)
        spin.setRange(0, maximum)
        spin.setSuffix(" s")
        spin.setAccelerated(True)
        return spin

    def _env_note(self, form: QFormLayout, name: str) -> None:
        note = QLabel()
        note.setObjectName("hint")
        note.setVisible(False)
        self.env_notes[name] = note
        form.addRow("", note)
