"""The start dialog's project picker and its advanced worker options.

The picker lists the built-in demo and the saved projects; picking one offers the queues its
last check found and says which pools its environment cannot run (and why). The advanced
section holds Celery's usual worker options, validated by the same spec checks as the CLI.
"""

from __future__ import annotations

import shlex
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from pooldesk.backend.projects.check import CheckResult
from pooldesk.backend.projects.model import DEMO
from pooldesk.backend.projects.store import ProjectStore
from pooldesk.backend.workers.celery_features import reasons
from pooldesk.backend.workers.options import LOGLEVELS
from pooldesk.backend.workers.spec import DEFAULT_APP, parse_autoscale


class ProjectPicker(QComboBox):
    """Data of each item: the project name (DEMO for the demo).

    It lists the demo and the projects that can start on one host (``follow_host``): this
    machine's own projects here, the mirrors of a fleet host's projects there. Listing every
    project let one be picked where it is not registered, refused only when the start ran (an
    agent starts only its own host's projects, ``backend/fleet/policy.py``)."""

    def __init__(self, store: ProjectStore | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.store = store or ProjectStore()
        self.host = ""  # "" this machine, else the fleet host whose projects are listed
        self._note = ""  # why the project asked for is not listed here; until the next pick
        self.activated.connect(self._picked)
        self._fill()

    def _fill(self) -> None:
        self.clear()
        self.addItem("demo (Pooldesk's demo app)", DEMO)
        for project in self.store.all():
            if (project.host or "") == self.host:
                self.addItem(f"{project.name} ({project.app})", project.name)
                self.setItemData(self.count() - 1, project.python, Qt.ItemDataRole.ToolTipRole)

    def pick(self, name: str | None) -> None:
        """Select project ``name`` if it can start on this host, else the demo, with a note
        saying where ``name`` is registered (``note``)."""
        index = self.findData(name) if name else 0
        self.setCurrentIndex(max(index, 0))
        self._note = self._elsewhere(str(name)) if name and index < 0 else ""

    def follow_host(self, host: str) -> None:
        """List the projects of ``host`` ("" this machine); keep the picked project when it is
        listed there too, else fall back to the demo (``note`` says why). Emits
        ``currentIndexChanged`` once, even for the same index: the items changed under it."""
        if host == self.host:
            return
        name = self.currentData()
        self.blockSignals(True)
        try:
            self.host = host
            self._fill()
            self.pick(name)
        finally:
            self.blockSignals(False)
        self.currentIndexChanged.emit(self.currentIndex())

    @property
    def note(self) -> str:
        """One line, while the demo stands in for a project of another host; else ""."""
        return self._note if self.currentIndex() == 0 else ""

    def _elsewhere(self, name: str) -> str:
        saved = self.store.load(name) if name != DEMO else None
        return (saved.elsewhere(self.host) or "") if saved else ""  # removed: nothing to say

    def _picked(self, _index: int) -> None:
        self._note = ""

    def project(self) -> str | None:
        """None for the demo (Pooldesk's own environment and broker)."""
        name = self.currentData()
        return None if name in (None, DEMO) else str(name)

    def app(self) -> str:
        name = self.project()
        saved = self.store.load(name) if name else None
        return saved.app if saved else DEFAULT_APP

    def check(self) -> CheckResult | None:
        """The project's last check: this machine's, or for a fleet host's project the one its
        agent ran there (kept beside the mirror, masked): its queues and pools, not ours."""
        name = self.project()
        if name and self.host:
            data = self.store.host_check(name)
            return CheckResult.from_dict(data) if data else None
        return self.store.last_check(name) if name else None

    def suggested_queues(self) -> list[str]:
        """The queues the project's tasks route to (its default queue last)."""
        check = self.check()
        if check is None:
            return []
        named = [q for q in check.queues if q != check.default_queue]
        return named or check.queues

    def declared_natures(self) -> dict[str, str]:
        """Per queue, the ``nature=`` its tasks declare (``mixed`` when they disagree)."""
        check = self.check()
        found: dict[str, set[str]] = {}
        for task in check.tasks if check else []:
            if task.get("nature"):
                found.setdefault(task["queue"], set()).add(task["nature"])
        return {q: next(iter(n)) if len(n) == 1 else "mixed" for q, n in found.items()}

    def pool_reasons(self) -> dict[str, str]:
        """Pools the project's environment cannot run, with the check's reason."""
        check = self.check()
        return {p: why for p, why in (check.pools if check else {}).items() if why}


class AdvancedOptions(QGroupBox):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Advanced worker options", parent)
        self.setCheckable(True)
        self.setChecked(False)  # folded by default: most starts need none of this
        self.loglevel_combo = QComboBox()
        self.loglevel_combo.addItems(list(LOGLEVELS))
        self.loglevel_combo.setCurrentText("INFO")
        self.max_tasks_spin = self._spin("no limit", "tasks")
        self.max_memory_spin = self._spin("no limit", "KiB")
        self.time_limit_spin = self._seconds()
        self.soft_limit_spin = self._seconds()
        self.autoscale_edit = QLineEdit()
        self.autoscale_edit.setPlaceholderText("max,min, e.g. 8,2 (prefork and gevent)")
        self.extra_edit = QLineEdit()
        self.extra_edit.setPlaceholderText("other worker options, e.g. --prefetch-multiplier 8")
        form = QFormLayout(self)
        form.addRow("&Log level:", self.loglevel_combo)
        form.addRow("Max tasks per child:", self.max_tasks_spin)
        form.addRow("Max memory per child:", self.max_memory_spin)
        form.addRow("&Time limit:", self.time_limit_spin)
        form.addRow("Soft time limit:", self.soft_limit_spin)
        form.addRow("Auto&scale:", self.autoscale_edit)
        self._add_newer(form)
        form.addRow("Other &options:", self.extra_edit)
        self.toggled.connect(self._toggled)
        self._toggled(False)
        for signal in (
            self.loglevel_combo.currentTextChanged,
            self.max_tasks_spin.valueChanged,
            self.max_memory_spin.valueChanged,
            self.time_limit_spin.valueChanged,
            self.soft_limit_spin.valueChanged,
            self.autoscale_edit.textChanged,
            self.extra_edit.textChanged,
            self.soft_shutdown_spin.valueChanged,
            self.soft_idle_check.toggled,
            self.disable_prefetch_check.toggled,
            self.eta_limit_spin.valueChanged,
        ):
            signal.connect(self.changed)

    # -- Celery 5.5+/5.6+ options, greyed with the reason where the project lacks them ---------
    def _add_newer(self, form: QFormLayout) -> None:
        self.soft_shutdown_spin = self._seconds()
        self.soft_idle_check = QCheckBox("soft shutdown even when idle")
        self.disable_prefetch_check = QCheckBox("fetch a task only when a process is free")
        self.eta_limit_spin = self._spin("no limit", "tasks")
        self.newer: dict[str, tuple[QWidget, str]] = {
            "soft_shutdown_timeout": (self.soft_shutdown_spin, "Soft shutdown:"),
            "soft_shutdown_on_idle": (self.soft_idle_check, ""),
            "disable_prefetch": (self.disable_prefetch_check, "Prefetch:"),
            "eta_task_limit": (self.eta_limit_spin, "ETA task limit:"),
        }
        for widget, label in self.newer.values():
            form.addRow(label, widget)

    def follow(self, picker: ProjectPicker) -> None:
        """Grey the newer options the picked project's Celery or broker lacks (the reason in
        the tooltip): the project's last check, or Pooldesk's own Celery for the demo."""
        picker.currentIndexChanged.connect(lambda _i: self.set_support(*_support(picker)))
        self.set_support(*_support(picker))

    def set_support(self, celery: str | None, broker_url: str | None) -> None:
        for name, why in reasons(celery, broker_url).items():
            widget = self.newer[name][0]
            widget.setEnabled(why is None)
            widget.setToolTip(why or "")

    def _toggled(self, on: bool) -> None:
        """Show or hide the form's own fields and labels only. Every descendant would include
        each combo box's popup container (a child of the combo): ``setVisible(True)`` on it
        showed an empty 22×22 popup at the screen's top-left that swallowed the next click."""
        for child in self.findChildren(QWidget, options=Qt.FindChildOption.FindDirectChildrenOnly):
            child.setVisible(on)

    @staticmethod
    def _spin(special: str, suffix: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(0, 100_000_000)
        spin.setSpecialValueText(special)
        spin.setSuffix(f" {suffix}")
        return spin

    @staticmethod
    def _seconds() -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(0, 7 * 24 * 3600)
        spin.setDecimals(1)
        spin.setSpecialValueText("none")
        spin.setSuffix(" s")
        return spin

    def values(self) -> dict[str, Any]:
        """Spec fields; raises ValueError (text for the form) for unparsable text."""
        if not self.isChecked():
            return {}
        out: dict[str, Any] = {"loglevel": self.loglevel_combo.currentText()}
        for key, spin in (
            ("max_tasks_per_child", self.max_tasks_spin),
            ("max_memory_per_child", self.max_memory_spin),
        ):
            if spin.value():
                out[key] = spin.value()
        for key, dspin in (
            ("time_limit", self.time_limit_spin),
            ("soft_time_limit", self.soft_limit_spin),
        ):
            if dspin.value():
                out[key] = dspin.value()
        if self.soft_shutdown_spin.isEnabled() and self.soft_shutdown_spin.value():
            out["soft_shutdown_timeout"] = self.soft_shutdown_spin.value()
        if self.eta_limit_spin.isEnabled() and self.eta_limit_spin.value():
            out["eta_task_limit"] = self.eta_limit_spin.value()
        for key, box in (
            ("soft_shutdown_on_idle", self.soft_idle_check),
            ("disable_prefetch", self.disable_prefetch_check),
        ):
            if box.isEnabled() and box.isChecked():
                out[key] = True
        if self.autoscale_edit.text().strip():
            out["autoscale"] = parse_autoscale(self.autoscale_edit.text().strip())
        try:  # split into an argument list (never run by a shell)
            out["extra_args"] = tuple(shlex.split(self.extra_edit.text()))
        except ValueError as exc:
            raise ValueError(f"other options: {exc}") from None
        return out


def _support(picker: ProjectPicker) -> tuple[str | None, str | None]:
    """(Celery version, broker URL) of the picked project: its last check; for the demo,
    Pooldesk's own Celery on the configured broker."""
    if picker.project() is None:
        from importlib.metadata import PackageNotFoundError, version

        from pooldesk.backend.broker.resolve import current_config

        try:
            return version("celery"), current_config().broker_url
        except (PackageNotFoundError, OSError, ValueError):
            return None, None
    check = picker.check()
    return (check.celery, check.broker_url) if check else (None, None)
