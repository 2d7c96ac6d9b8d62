"""Start a worker: name, pool, concurrency, queues, checked live by ``WorkerSpec.problems()``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from pooldesk.backend.advisor.model import DEFAULT_NATURES
from pooldesk.backend.workers import defaults
from pooldesk.backend.workers.spec import (
    POOLS,
    SpecError,
    WorkerSpec,
    available_pools,
    default_concurrency,
    parse_queues,
    pool_unavailable,
)
from pooldesk.desktop.views.dialog_buttons import enter_means
from pooldesk.desktop.views.host_choice import THIS_MACHINE, add_hosts, block_hint
from pooldesk.desktop.views.messages import fit_height, show_list
from pooldesk.desktop.views.start_options import AdvancedOptions, ProjectPicker

POOL_HINTS = {
    "prefork": "Processes, one per slot: CPU-bound work. Memory grows with concurrency.",
    "gevent": "Greenlets in one process: many slow I/O calls (HTTP, database) at once.",
    "threads": "OS threads in one process: I/O-bound work with libraries gevent can't patch.",
    "solo": "One task at a time in the main process: debugging, or strictly serial work.",
}
RUNNING = ("starting", "online", "stopping")


def fill_pool_combo(combo: QComboBox, platform: str | None = None) -> None:
    """Every pool, each with its hint; one this platform cannot run is greyed out and its
    tooltip says why (prefork on Windows), so nobody wonders where it went."""
    model = combo.model()
    for pool in POOLS:
        combo.addItem(pool)
        row = combo.count() - 1
        reason = pool_unavailable(pool, platform)
        combo.setItemData(row, reason or POOL_HINTS.get(pool, ""), Qt.ItemDataRole.ToolTipRole)
        if reason is not None:
            item = model.item(row)  # type: ignore[attr-defined]
            item.setEnabled(False)
    combo.setCurrentText(available_pools(platform)[0])


class StartDialog(QDialog):
    def __init__(
        self,
        parent: QWidget | None = None,
        existing: dict[str, str] | None = None,
        platform: str | None = None,
        fit_rows: Sequence[Any] = (),
        project: str | None = None,
        declared: Mapping[str, str] | None = None,
    ):
        """``existing`` maps the names of local workers to their state; ``platform`` (default:
        this machine) decides which pools can be chosen; ``fit_rows`` (the Pool fit table) and
        ``declared`` (settings' queue natures) decide which queues are proposed for which pool;
        ``project`` is the one picked first (the last one started)."""
        super().__init__(parent)
        self.setWindowTitle("Start worker")
        self._existing = existing or {}
        self._platform = platform
        self._fit_rows = list(fit_rows)
        self._declared = dict(declared or {})
        self._concurrency_edited = False
        self._queues_edited = False
        self._name_edited = False
        self._pool_edited = False

        self.host_combo = QComboBox()  # this machine, then the fleet's hosts (set_hosts)
        self.host_combo.addItem(THIS_MACHINE, "")
        self.host_combo.setAccessibleName("Host to start the worker on")
        self.host_hint = QLabel()
        self.host_hint.setObjectName("hint")
        self.host_hint.setWordWrap(True)
        self._local_existing: dict[str, str] = {}
        self._block = ""  # why fleet hosts cannot be picked (no key), "" when they can
        self._host_workers: dict[str, dict[str, str]] = {}
        self.project_combo = ProjectPicker()  # follows the host: its projects, and the demo
        self.project_combo.pick(project)
        self.project_hint = QLabel()
        self.project_hint.setObjectName("hint")
        self.project_hint.setWordWrap(True)
        self.advanced = AdvancedOptions()
        self.advanced.follow(self.project_combo)  # greys Celery 5.5+/5.6+ options it lacks
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. invoices-1")
        self.pool_combo = QComboBox()
        fill_pool_combo(self.pool_combo, platform)
        self.concurrency_spin = QSpinBox()
        self.concurrency_spin.setRange(1, 10_000)
        self.concurrency_spin.setAccelerated(True)
        self.concurrency_spin.setValue(default_concurrency(self.pool_combo.currentText()))
        self.queues_edit = QLineEdit("default")
        self.queues_edit.setPlaceholderText("comma-separated, e.g. invoices, default")
        self.queues_hint = QLabel()
        self.queues_hint.setObjectName("hint")
        self.queues_hint.setWordWrap(True)
        self.pool_hint = QLabel()
        self.pool_hint.setObjectName("hint")
        self.pool_hint.setWordWrap(True)
        self.problems_label = QLabel()
        self.problems_label.setObjectName("problems")
        self.problems_label.setWordWrap(True)
        self.warnings_label = QLabel()
        self.warnings_label.setObjectName("warnings")
        self.warnings_label.setWordWrap(True)

        form = QFormLayout()
        self._host_label = QLabel("&Host:")
        self._host_label.setBuddy(self.host_combo)
        form.addRow(self._host_label, self.host_combo)
        form.addRow("", self.host_hint)
        self._host_rows = (self._host_label, self.host_combo, self.host_hint)
        for widget in self._host_rows:  # one machine: nothing to pick (set_hosts shows them)
            widget.setVisible(False)
        form.addRow("P&roject:", self.project_combo)
        form.addRow("", self.project_hint)
        form.addRow("&Name:", self.name_edit)
        form.addRow("&Pool:", self.pool_combo)
        form.addRow("", self.pool_hint)
        form.addRow("&Concurrency:", self.concurrency_spin)
        form.addRow("&Queues:", self.queues_edit)
        form.addRow("", self.queues_hint)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button: QPushButton = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("&Start")
        enter_means(self.ok_button, self.buttons)  # Enter never cancels
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.advanced)
        layout.addWidget(self.problems_label)
        layout.addWidget(self.warnings_label)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(520)

        self.name_edit.textChanged.connect(self._validate)
        self.queues_edit.textChanged.connect(self._validate)
        self.queues_edit.textEdited.connect(self._queues_typed)
        self.name_edit.textEdited.connect(self._name_typed)
        self.pool_combo.activated.connect(self._pool_picked)
        self.project_combo.currentIndexChanged.connect(self._project_changed)
        self.project_combo.activated.connect(self._project_changed)  # drops the picker's note
        self.host_combo.currentIndexChanged.connect(self._host_changed)
        self.advanced.changed.connect(self._validate)
        self.advanced.toggled.connect(self._validate)
        self.pool_combo.currentTextChanged.connect(self._pool_changed)
        self.concurrency_spin.valueChanged.connect(self._concurrency_changed)
        self._pool_changed(self.pool_combo.currentText())
        self._project_changed()

    # -- the fleet ---------------------------------------------------------------------------
    def set_hosts(
        self,
        rows: Sequence[Mapping[str, Any]],
        block: str = "",
        workers: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        """The fleet's hosts (``host list --json`` rows): an online host can be picked; one
        whose agent is offline, or every host while this panel has no fleet key (``block``
        says why), is greyed with the reason as its tooltip. ``workers``: each host's workers'
        names and states, for the name check (plain data: a callable back into the page would
        tie the dialog to its parent in a cycle PySide crashes on when deleting them)."""
        self._local_existing = dict(self._existing)
        self._block = block
        self._host_workers = {h: dict(w) for h, w in (workers or {}).items()}
        add_hosts(self.host_combo, rows, block)
        for widget in self._host_rows:
            widget.setVisible(self.host_combo.count() > 1)
        self._host_changed()

    def host(self) -> str:
        """ "" for this machine, else the fleet host the worker starts on."""
        return str(self.host_combo.currentData() or "")

    def _host_changed(self, _index: int = 0) -> None:
        host = self.host()
        self._existing = self._host_workers.get(host, {}) if host else self._local_existing
        self.project_combo.follow_host(host)  # its projects; _project_changed when they change
        if host:
            text = (
                f"Its agent starts it there, from a project registered on {host} "
                f"(Settings ▸ Projects ▸ Add project…, Host {host}) or the demo."
            )
        elif self._block and self.host_combo.count() > 1:
            text = block_hint(self._block)
        else:
            text = ""
        self.host_hint.setText(text)
        self.host_hint.setToolTip(self._block if not host else "")
        self.host_hint.setVisible(bool(text))
        if not self._name_edited:
            self._propose()
        self._validate()

    # -- results -----------------------------------------------------------------------------
    def spec(self) -> WorkerSpec:
        try:
            options = self.advanced.values()
        except (ValueError, SpecError):
            options = {}  # problems() names it
        return WorkerSpec(
            name=self.name_edit.text().strip(),
            pool=self.pool_combo.currentText(),
            concurrency=self.concurrency_spin.value(),
            queues=parse_queues(self.queues_edit.text()),
            app=self.project_combo.app(),
            project=self.project_combo.project(),
            **options,
        )

    def problems(self) -> list[str]:
        try:
            self.advanced.values()
        except (ValueError, SpecError) as exc:
            return [str(exc)]
        spec = self.spec()
        reason = self.project_combo.pool_reasons().get(spec.pool)
        if reason:
            return [f"pool {spec.pool!r}: {reason}"]
        if not spec.name:  # Start is disabled: say why, in the same place as every problem
            others = replace(spec, name="placeholder").problems(self._platform)
            example = defaults.free_name((spec.queues or ("worker",))[0], self._existing)
            return [f"name: type a name for the worker (e.g. {example})", *others]
        if not spec.queues:
            note = self.queues_hint.text()
            return [f"queues: type at least one queue{'. ' + note if note else ''}"]
        problems = spec.problems(self._platform)
        if self._existing.get(spec.name) in RUNNING:
            problems.append(f"a worker named {spec.name!r} is already running")
        return problems

    def warnings(self) -> list[str]:
        spec = self.spec()
        warnings = spec.warnings()
        state = self._existing.get(spec.name)
        if state and state not in RUNNING:
            warnings.append(f"{spec.name!r} exists ({state}): its settings will be replaced")
        return warnings

    def accept(self) -> None:
        if self.ok_button.isEnabled():
            super().accept()

    # -- live checks -------------------------------------------------------------------------
    def _queues_typed(self, _text: str) -> None:
        self._queues_edited = True
        self.queues_hint.setText("")

    def _name_typed(self, _text: str) -> None:
        self._name_edited = True

    def _pool_picked(self, _index: int) -> None:
        self._pool_edited = True

    def _project_queues(self) -> list[str]:
        """The project's queues (its default queue last); for the demo, its two work queues
        (``orchestration`` has its own preset: it coordinates batches, it runs none)."""
        if self.project_combo.project() is None:
            return list(DEFAULT_NATURES)
        return self.project_combo.suggested_queues()

    def _propose(self) -> None:
        """Queues that fit the pool (unless typed), then a free name (unless typed)."""
        if not self._queues_edited:
            queues = self._project_queues()
            declared = {
                **(DEFAULT_NATURES if self.project_combo.project() is None else {}),
                **self.project_combo.declared_natures(),
                **self._declared,
            }
            natures = defaults.natures_of(queues, self._fit_rows, declared)
            proposal = defaults.propose(self.pool_combo.currentText(), queues, natures)
            self.queues_edit.setText(", ".join(proposal.queues))
            self.queues_hint.setText(proposal.note(self.pool_combo.currentText()))
        if not self._name_edited:
            queues = parse_queues(self.queues_edit.text())
            base = queues[0] if queues else (self.project_combo.project() or "worker")
            self.name_edit.setText(defaults.free_name(base, self._existing))

    def _recommend(self) -> None:
        """Pre-select the Pool fit table's recommendation for this project's queues."""
        if self._pool_edited or self._queues_edited:
            return
        rec = defaults.recommended(self._project_queues(), self._fit_rows)
        if rec is None or pool_unavailable(rec.pool, self._platform) is not None:
            return
        if rec.pool in self.project_combo.pool_reasons():
            return
        self.pool_combo.setCurrentText(rec.pool)
        if rec.concurrency and not self._concurrency_edited:
            self.concurrency_spin.blockSignals(True)
            self.concurrency_spin.setValue(rec.concurrency)
            self.concurrency_spin.blockSignals(False)

    def _project_changed(self, _index: int = 0) -> None:
        """Offer the project's queues; grey the pools its environment cannot run."""
        reasons = self.project_combo.pool_reasons()
        model = self.pool_combo.model()
        for row in range(self.pool_combo.count()):
            pool = self.pool_combo.itemText(row)
            why = reasons.get(pool) or pool_unavailable(pool, self._platform)
            model.item(row).setEnabled(why is None)  # type: ignore[attr-defined]
            self.pool_combo.setItemData(
                row, why or POOL_HINTS.get(pool, ""), Qt.ItemDataRole.ToolTipRole
            )
        if self.pool_combo.currentText() in reasons:
            usable = [p for p in available_pools(self._platform) if p not in reasons]
            if usable:
                self.pool_combo.setCurrentText(usable[0])
        self._recommend()
        self._propose()
        name = self.project_combo.project()
        check = self.project_combo.check()
        if name is None:
            text = "Pooldesk's demo app, in Pooldesk's own environment and broker."
        elif check is None:
            text = "Not checked yet (Settings ▸ Projects ▸ Check): it will be checked on start."
        elif not check.ok:
            text = f"Its last check failed: {check.error}"
        else:
            broker = check.public()["broker_url"]
            text = f"Its tasks use {', '.join(check.queues)}. Broker: {broker}."
            text += "".join(f"\nNot {p}: {why}." for p, why in reasons.items())
        note = self.project_combo.note
        self.project_hint.setText(f"{note}: the demo is picked instead.\n{text}" if note else text)
        self._validate()

    def _pool_changed(self, pool: str) -> None:
        missing = [r for p in POOLS if (r := pool_unavailable(p, self._platform)) is not None]
        hint = POOL_HINTS.get(pool, "")
        self.pool_hint.setText("\n".join([hint, *(m[:1].upper() + m[1:] + "." for m in missing)]))
        if not self._concurrency_edited:
            self.concurrency_spin.blockSignals(True)
            self.concurrency_spin.setValue(default_concurrency(pool))
            self.concurrency_spin.blockSignals(False)
        self._propose()
        self._validate()

    def _concurrency_changed(self, _value: int) -> None:
        self._concurrency_edited = True
        self._validate()

    def _validate(self) -> None:
        problems, warnings = self.problems(), self.warnings()
        show_list(self.problems_label, problems)
        show_list(self.warnings_label, warnings)
        self.ok_button.setEnabled(not problems and bool(self.spec().name))
        self.ok_button.setToolTip(
            "" if self.ok_button.isEnabled() else "Start is off until: " + "; ".join(problems)
        )
        fit_height(self, 520)
