"""Settings ▸ Workers and timings: sampling interval, stop/start/visibility timeouts and the
CPU priority (nice) of the local workers Pooldesk starts.

The spin boxes allow more than is valid on purpose, so the page's checks can say what is wrong
instead of the field silently refusing the key. ``POOLDESK_WORKER_NICE`` wins over the file
for the workers started; the section says so and still edits the file's value.
"""

from __future__ import annotations

import os
from dataclasses import replace

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from pooldesk.backend.settings import Settings
from pooldesk.backend.workers.priority import NICE_ENV
from pooldesk.desktop.views.settings.field_errors import error_under
from pooldesk.desktop.views.settings.widgets import (
    form,
    note_row,
    same_width,
    seconds_spin,
    show_note,
)

NICE_HINT = (
    "CPU priority (nice value) of the local workers Pooldesk starts: 0 runs them at the same "
    "priority as this window, 19 is the lowest. A higher value keeps the window responsive "
    "while workers saturate every core; an idle core is still used in full. Applies to "
    "workers started afterwards."
)
HINTS = {
    "sampling_interval": "Seconds between two CPU and memory samples (charts, advisor).",
    "stop_timeout": "How long a warm stop waits for running tasks before going cold.",
    "start_timeout": "How long a start waits for the worker's first ping reply.",
    "visibility_timeout": (
        "Redis only: after this long, a message held by a worker that died whole is "
        "delivered again. Keep it longer than your longest task."
    ),
}


class TimingsSection(QGroupBox):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Workers and timings", parent)
        self.sampling_spin = seconds_spin(1000, 2)
        self.stop_spin = seconds_spin(100_000, 0)
        self.start_spin = seconds_spin(100_000, 0)
        self.visibility_spin = seconds_spin(10_000_000, 0)
        self.nice_spin = QSpinBox()
        self.nice_spin.setRange(-20, 99)  # wider than valid: the checks say what is wrong
        self.nice_spin.setToolTip(NICE_HINT)
        self.seconds = {
            "sampling_interval": self.sampling_spin,
            "stop_timeout": self.stop_spin,
            "start_timeout": self.start_spin,
            "visibility_timeout": self.visibility_spin,
        }
        layout = form(self)
        for (name, spin), label in zip(
            self.seconds.items(),
            ("Sampling &interval:", "S&top timeout:", "St&art timeout:", "&Visibility timeout:"),
            strict=True,
        ):
            layout.addRow(label, spin)
            spin.setToolTip(HINTS[name])
            row_label = layout.labelForField(spin)
            if row_label is not None:
                row_label.setToolTip(HINTS[name])
        nice_row = QHBoxLayout()
        nice_row.addWidget(self.nice_spin)
        nice_scale = QLabel("0 = same as the window, 19 = lowest")
        nice_scale.setObjectName("hint")
        nice_row.addWidget(nice_scale)
        nice_label = QLabel("Worker CPU &priority (nice):")
        nice_label.setBuddy(self.nice_spin)
        nice_label.setToolTip(NICE_HINT)
        layout.addRow(nice_label, nice_row)
        self.nice_note = note_row(layout)
        self.errors = {
            name: (spin, error_under(layout, spin)) for name, spin in self.seconds.items()
        }
        self.errors["worker_nice"] = (self.nice_spin, error_under(layout, nice_row))
        same_width([*self.seconds.values(), self.nice_spin])
        for spin_box in (*self.seconds.values(), self.nice_spin):
            spin_box.valueChanged.connect(self._edited)

    def _edited(self, *_args: object) -> None:
        self.changed.emit()

    def show_settings(self, file: Settings, _env: dict[str, str]) -> None:
        for name, spin in self.seconds.items():
            spin.setValue(getattr(file, name))
        self.nice_spin.setValue(file.worker_nice)
        nice_env = os.environ.get(NICE_ENV)  # wins over the file for the workers started
        show_note(
            self.nice_note,
            f"{NICE_ENV}={nice_env} is set: workers started from here use that" if nice_env else "",
        )

    def apply(self, settings: Settings) -> Settings:
        values = {name: spin.value() for name, spin in self.seconds.items()}
        return replace(settings, worker_nice=self.nice_spin.value(), **values)

    def problems(self) -> list[str]:
        return []  # Settings.validate() checks every field here
