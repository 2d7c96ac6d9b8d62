"""The Settings page: the sections of ``settings.json`` stacked, checked as you type, saved on
request through the settings hub.

Checks are the backend's (``Settings.validate()``) plus what each section adds (presets use the
same rules as a start), shown inline; Save stays disabled while anything is wrong, so an
invalid file is never written. The page edits the file's values (the hub's ``file``); what the
environment pins is shown by its section, read-only. Saved elsewhere (File ▸ Serve Prometheus
metrics), a field this page does not show follows the hub instead of being written back stale.
"""

from __future__ import annotations

from typing import Any, Protocol

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

from pooldesk.backend.redact import mask_url
from pooldesk.backend.settings import Settings
from pooldesk.desktop.settings_hub import SettingsHub
from pooldesk.desktop.views.messages import show_list
from pooldesk.desktop.views.projects_section import ProjectsSection
from pooldesk.desktop.views.settings.broker import BrokerSection
from pooldesk.desktop.views.settings.field_errors import FieldErrors
from pooldesk.desktop.views.settings.look import LookSection
from pooldesk.desktop.views.settings.presets import PresetsSection
from pooldesk.desktop.views.settings.thresholds import ThresholdsSection
from pooldesk.desktop.views.settings.timings import TimingsSection

RESTART_NOTE = (
    "Broker, result backend, timings and advisor thresholds apply the next time Pooldesk "
    "starts; presets and appearance apply now; worker priority applies to workers started "
    "from now on."
)


class Section(Protocol):
    """What the page asks of each section (see ``desktop/views/settings/__init__.py``)."""

    changed: Any  # a Signal: the user edited something

    def show_settings(self, file: Settings, env: dict[str, str]) -> None: ...
    def apply(self, settings: Settings) -> Settings: ...
    def problems(self) -> list[str]: ...


class SettingsPage(QWidget):
    title = "Settings"
    saved = Signal(object)  # Settings, as written (without environment overrides)

    def __init__(self, hub: SettingsHub, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hub = hub
        self._loading = False
        self.broker_section = BrokerSection()
        self.timings_section = TimingsSection()
        self.thresholds_section = ThresholdsSection()
        self.presets_section = PresetsSection()
        self.look_section = LookSection()
        self.projects_section = ProjectsSection()  # saved on their own, not by Save below
        # In the order their problems are listed.
        self.sections: list[Section] = [
            self.broker_section,
            self.timings_section,
            self.thresholds_section,
            self.presets_section,
            self.look_section,
        ]
        for section in self.sections:
            section.changed.connect(self._changed)

        self.field_errors = FieldErrors()
        for section in (self.broker_section, self.timings_section, self.thresholds_section):
            for key, (field, error) in section.errors.items():
                self.field_errors.add(key, field, error)
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

        # Broker and projects across the top; below them two columns: workers, timings and
        # presets on the left, the advisor's thresholds on the right (short numeric fields).
        body = QWidget()
        column = QVBoxLayout(body)
        column.addWidget(self.broker_section)
        column.addWidget(self.projects_section)
        columns = QHBoxLayout()
        left = QVBoxLayout()
        left.addWidget(self.timings_section)
        left.addWidget(self.presets_section, 1)
        columns.addLayout(left, 1)
        right = QVBoxLayout()
        right.addWidget(self.thresholds_section)
        right.addWidget(self.look_section)
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
        self.reload()

    def reload(self) -> None:
        """Show the hub's settings as the file has them (Revert), the environment's where they
        override."""
        self._loading = True
        try:
            env = self.hub.env_values()
            for section in self.sections:
                section.show_settings(self.hub.file, env)
        finally:
            self._loading = False
        self.status_label.clear()
        self._validate()

    def settings(self) -> Settings:
        """What Save would write: the form's values over the file's (the file's own for
        fields the environment pins, and for those no section shows)."""
        settings = self.hub.file
        for section in self.sections:
            settings = section.apply(settings)
        return settings

    def problems(self) -> list[str]:
        out = [mask_url(p) or p for p in self.settings().validate()]
        for section in self.sections:
            out += section.problems()
        return out

    def save(self) -> bool:
        """Write settings.json (0600); False, with the reason shown, when it was not written."""
        if self.problems():
            self._validate()
            return False
        settings = self.settings()
        try:
            path = self.hub.save(settings)
        except (OSError, ValueError) as exc:
            self.status_label.setText(f"Not saved: {mask_url(str(exc))}")
            return False
        self.status_label.setText(f"Saved to {path}. {RESTART_NOTE}")
        self.saved.emit(settings)
        return True

    # -- live checks -------------------------------------------------------------------------
    def _changed(self) -> None:
        if not self._loading:
            self.status_label.clear()  # "Saved…" no longer describes the form
            self._validate()

    def _validate(self) -> None:
        """Each problem beside its field (the field marked); the presets' under their table;
        only what has no field of its own is listed at the bottom, in the fields' words."""
        problems = self.problems()
        presets = set(self.presets_section.problems())
        rest = self.field_errors.show([p for p in problems if p not in presets])
        show_list(self.presets_section.error_label, sorted(presets, key=problems.index))
        show_list(self.problems_label, rest)
        self.save_button.setEnabled(not problems)
        self.save_button.setToolTip(
            ""
            if not problems
            else f"Fix the {'field' if len(problems) == 1 else 'fields'} marked in red first"
        )
        if problems:
            self.status_label.clear()
