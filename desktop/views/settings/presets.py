"""Settings ▸ Worker presets: the shapes offered by Workers ▸ Start from preset.

Each row is a preset: name, pool, concurrency, queues, the project its workers run (the demo,
or one of Settings ▸ Projects) and the host they start on. The Host column appears, like the
Start dialog's host row, once the fleet service has heard a host (or a preset names one): its
combo offers this machine and every host heard, an offline one marked; a saved host that is not
heard (yet) stays, marked, never dropped. A name can be typed too, checked against the fleet's
``HOST_RE``. Checked as you type with the same rules a start uses
(``presets.problems``). While the file has no presets the defaults are shown, and saving them
unchanged keeps following the defaults (prefork × the machine's cores) instead of freezing them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pooldesk.backend.projects.model import DEMO
from pooldesk.backend.projects.store import ProjectStore
from pooldesk.backend.settings import Settings
from pooldesk.backend.workers import presets as presets_mod
from pooldesk.backend.workers.spec import POOLS, available_pools
from pooldesk.desktop.views.start_dialog import fill_pool_combo
from pooldesk.desktop.views.tables import row_table

PRESET_COLUMNS = ("Name", "Pool", "Concurrency", "Queues", "Project", "Host")
HOST = PRESET_COLUMNS.index("Host")
THIS_MACHINE = "This machine"


class PresetsSection(QGroupBox):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Worker presets (Workers ▸ Start from preset)", parent)
        self._quiet = False  # while rows are filled in: one ``changed`` at the end
        self._hosts: list[dict[str, Any]] = []  # the fleet's host rows (set_hosts)
        # Name and concurrency fit their text ("Orchestration" in full), the pool and project
        # columns their combo boxes (add widens them), the queues take the rest.
        self.table = row_table(
            PRESET_COLUMNS,
            QAbstractItemView.SelectionMode.ExtendedSelection,
            stretch=3,
            fit=(0, 2),
            editable=True,
            min_height=150,
        )
        self.table.itemChanged.connect(self._edited)
        self.add_button = QPushButton("&Add preset")
        self.remove_button = QPushButton("Re&move preset")
        self.add_button.clicked.connect(self._add_clicked)
        self.remove_button.clicked.connect(self._remove_selected)
        self.error_label = QLabel()  # the presets' problems, right under their table
        self.error_label.setObjectName("problems")
        self.error_label.setWordWrap(True)
        self.error_label.setVisible(False)
        column = QVBoxLayout(self)
        column.addWidget(self.table)
        column.addWidget(self.error_label)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        column.addLayout(buttons)

    def _edited(self, *_args: object) -> None:
        if not self._quiet:
            self.changed.emit()

    # -- rows --------------------------------------------------------------------------------
    def add(self, preset: dict[str, Any] | None = None) -> int:
        preset = preset or {
            "name": "",
            "pool": available_pools()[0],
            "concurrency": 1,
            "queues": ["default"],
        }
        row = self.table.rowCount()
        was_quiet, self._quiet = self._quiet, True
        try:
            self.table.insertRow(row)
            self.table.setItem(row, 0, QTableWidgetItem(str(preset.get("name", ""))))
            combo = QComboBox()
            fill_pool_combo(combo)
            pool = str(preset.get("pool", "prefork"))
            if pool not in POOLS:
                combo.addItem(pool)
            combo.setCurrentText(pool)
            combo.currentTextChanged.connect(self._edited)
            self.table.setCellWidget(row, 1, combo)
            pool_width = combo.sizeHint().width() + 8
            if self.table.columnWidth(1) < pool_width:
                self.table.setColumnWidth(1, pool_width)
            self.table.setItem(row, 2, QTableWidgetItem(str(preset.get("concurrency", ""))))
            queues = ", ".join(presets_mod.queues_of(preset))
            self.table.setItem(row, 3, QTableWidgetItem(queues))
            project = self._project_combo(preset)
            self.table.setCellWidget(row, 4, project)
            # A cell widget does not size its column (ResizeToContents reads items only): the
            # project column was cut to "dem". As wide as its widest combo box, like Pool.
            project_width = project.sizeHint().width() + 8
            if self.table.columnWidth(4) < project_width:
                self.table.setColumnWidth(4, project_width)
            host = QComboBox()
            host.setEditable(True)  # a host not heard yet can be typed (checked: HOST_RE)
            host.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
            host.setAccessibleName("Host the preset's workers start on")
            self._fill_host_combo(host, presets_mod.host_of(preset))
            host.currentTextChanged.connect(self._edited)
            self.table.setCellWidget(row, HOST, host)
            self._fit_host_column()
        finally:
            self._quiet = was_quiet
        self._edited()
        return row

    def _project_combo(self, preset: dict[str, Any]) -> QComboBox:
        """Which project a preset's workers run: the demo, or one of Settings ▸ Projects."""
        combo = QComboBox()
        names = [DEMO, *ProjectStore().names()]
        wanted = str(preset.get("project") or DEMO)
        combo.addItems(names if wanted in names else [*names, wanted])
        combo.setCurrentText(wanted)
        combo.currentTextChanged.connect(self._edited)
        combo.currentTextChanged.connect(self._fit_host_column)  # a host's project: its column
        return combo

    # -- hosts -------------------------------------------------------------------------------
    def set_hosts(self, rows: list[dict[str, Any]]) -> None:
        """The fleet's hosts (the fleet service's ``hostsChanged``): each row's combo offers
        them, its own choice kept. Not an edit: the form stays as saved."""
        self._hosts = [dict(r) for r in rows]
        was_quiet, self._quiet = self._quiet, True
        try:
            for row in range(self.table.rowCount()):
                combo = self.table.cellWidget(row, HOST)
                if isinstance(combo, QComboBox):
                    self._fill_host_combo(combo, self._host_value(combo))
            self._fit_host_column()
        finally:
            self._quiet = was_quiet

    def _fill_host_combo(self, combo: QComboBox, wanted: str) -> None:
        """This machine, then each host heard (an offline one marked), then ``wanted`` if no
        host by that name has been heard: shown as saved, marked, never dropped."""
        blocked = combo.blockSignals(True)
        try:
            combo.clear()
            combo.addItem(THIS_MACHINE, "")
            combo.setItemData(0, "Start its workers here", Qt.ItemDataRole.ToolTipRole)
            heard = {str(r.get("name")): bool(r.get("online")) for r in self._hosts}
            if wanted and wanted not in heard:
                heard[wanted] = False
            for name, online in heard.items():
                if not name:
                    continue
                known = any(r.get("name") == name for r in self._hosts)
                mark = "" if online else (" (offline)" if known else " (not heard yet)")
                combo.addItem(name + mark, name)
                tip = "agent online" if online else ("agent offline" if known else "")
                tip = tip or "no agent with this name has been heard yet"
                combo.setItemData(combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
            index = combo.findData(wanted)
            combo.setCurrentIndex(index)
            combo.setToolTip(combo.itemData(index, Qt.ItemDataRole.ToolTipRole) or "")
        finally:
            combo.blockSignals(blocked)

    @staticmethod
    def _host_value(combo: QComboBox) -> str:
        """The host a row names: a listed entry's host ("" for this machine), or what was
        typed, as typed (checked by ``presets.problems``)."""
        text = combo.currentText().strip()
        index = combo.findText(text)
        return str(combo.itemData(index) or "") if index >= 0 else text

    def _fit_host_column(self, *_args: object) -> None:
        """Shown once a host is heard or a preset names one, or names a project registered on
        a host (the problem under the table says to set Host: it must be there to set); as
        wide as its widest combo box (a cell widget does not size its column)."""
        cells = [self.table.cellWidget(r, HOST) for r in range(self.table.rowCount())]
        combos = [c for c in cells if isinstance(c, QComboBox)]
        named = any(self._host_value(c) for c in combos) or any(
            p.get("project") and presets_mod.project_host_problems(p) for p in self.presets()
        )
        self.table.setColumnHidden(HOST, not (self._hosts or named))
        width = max((c.sizeHint().width() + 8 for c in combos), default=0)
        if self.table.columnWidth(HOST) < width:
            self.table.setColumnWidth(HOST, width)

    def _add_clicked(self) -> None:
        row = self.add()
        self.table.setCurrentCell(row, 0)
        self.table.editItem(self.table.item(row, 0))

    def _remove_selected(self) -> None:
        rows = sorted({index.row() for index in self.table.selectedIndexes()}, reverse=True)
        if not rows and self.table.currentRow() >= 0:
            rows = [self.table.currentRow()]
        for row in rows:
            self.table.removeRow(row)
        self._edited()

    def presets(self) -> list[dict[str, Any]]:
        out = []
        for row in range(self.table.rowCount()):
            combo = self.table.cellWidget(row, 1)
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
            project = self.table.cellWidget(row, 4)
            if isinstance(project, QComboBox) and project.currentText() not in ("", DEMO):
                preset["project"] = project.currentText()
            host = self.table.cellWidget(row, HOST)
            if isinstance(host, QComboBox) and self._host_value(host):
                preset["host"] = self._host_value(host)  # absent: this machine
            out.append(preset)
        return out

    def _cell(self, row: int, column: int) -> str:
        item = self.table.item(row, column)
        return item.text().strip() if item is not None else ""

    # -- the section's part of the settings --------------------------------------------------
    def show_settings(self, file: Settings, _env: dict[str, str]) -> None:
        self.table.setRowCount(0)
        for preset in presets_mod.effective_presets(file.presets):
            self.add(preset)

    def apply(self, settings: Settings) -> Settings:
        presets = self.presets()
        if not settings.presets and presets == presets_mod.default_presets():
            presets = []  # still the defaults: keep following them (prefork × cores)
        return replace(settings, presets=presets)

    def problems(self) -> list[str]:
        out: list[str] = []
        seen: set[str] = set()
        for number, preset in enumerate(self.presets(), start=1):
            label = f"preset {number}" + (f" ({preset['name']})" if preset["name"] else "")
            out += [f"{label}: {p}" for p in presets_mod.problems(preset)]
            key = preset["name"].lower()
            if key and key in seen:
                out.append(f"{label}: another preset has this name")
            seen.add(key)
        return out
