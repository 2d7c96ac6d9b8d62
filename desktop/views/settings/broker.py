"""Settings ▸ Broker and stores: managed or external broker, result backend, invoice database.

A broker password is never shown: it sits in its own masked field, split from (and joined
back into) the URL. A field pinned by an environment variable (``POOLDESK_BROKER_URL``…) is
shown read-only, masked, with the variable's name, and the file keeps its own value for it.
"""

from __future__ import annotations

import re
from dataclasses import replace

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QWidget,
)

from pooldesk.backend.redact import mask_url
from pooldesk.backend.settings import ENV_OVERRIDES, Settings
from pooldesk.desktop.views.settings.field_errors import error_under
from pooldesk.desktop.views.settings.widgets import form, note_row, show_note

_URL = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?:(?P<user>[^:@/]*)(?::(?P<pw>[^@/]*))?@)?(?P<rest>.*)$"
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


class BrokerSection(QGroupBox):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Broker and stores", parent)
        self._env: dict[str, str] = {}
        self.managed_radio = QRadioButton("&Managed: Pooldesk runs a local redis-server")
        self.external_radio = QRadioButton("&External broker:")
        self._group = QButtonGroup(self)
        self._group.addButton(self.managed_radio)
        self._group.addButton(self.external_radio)
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("redis://host:6379/0 or amqp://user@host//")
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText("password (kept out of the URL shown)")
        self.result_backend_edit = QLineEdit()
        self.result_backend_edit.setPlaceholderText("empty: the broker's redis")
        self.invoice_db_edit = QLineEdit()
        self.invoice_db_edit.setPlaceholderText("empty: a SQLite file under the Pooldesk home")

        layout = form(self, fields_stay=False)
        layout.addRow(self.managed_radio)
        external_row = QHBoxLayout()
        external_row.addWidget(self.external_radio)
        external_row.addWidget(self.url_edit, 1)
        layout.addRow(external_row)
        layout.addRow("Broker &password:", self.password_edit)
        self.env_notes: dict[str, QLabel] = {"broker_url": note_row(layout)}
        layout.addRow("&Result backend:", self.result_backend_edit)
        self.env_notes["result_backend"] = note_row(layout)
        layout.addRow("&Invoice database:", self.invoice_db_edit)
        self.env_notes["invoice_db"] = note_row(layout)
        self.errors = {  # each field's own error line, right under it
            "broker_url": (self.url_edit, error_under(layout, external_row)),
            "result_backend": (
                self.result_backend_edit,
                error_under(layout, self.result_backend_edit),
            ),
            "invoice_db": (self.invoice_db_edit, error_under(layout, self.invoice_db_edit)),
        }
        for edit in self._edits():
            edit.textChanged.connect(self._edited)
        self.managed_radio.toggled.connect(self._edited)

    def _edits(self) -> tuple[QLineEdit, ...]:
        return (self.url_edit, self.password_edit, self.result_backend_edit, self.invoice_db_edit)

    def _edited(self, *_args: object) -> None:
        self._update_enabled()
        self.changed.emit()

    def _update_enabled(self) -> None:
        external = self.external_radio.isChecked() and "broker_url" not in self._env
        self.url_edit.setEnabled(external)
        self.password_edit.setEnabled(external)

    # -- the section's part of the settings --------------------------------------------------
    def show_settings(self, file: Settings, env: dict[str, str]) -> None:
        """The file's values; the environment's, read-only (and masked), where they win."""
        self._env = dict(env)
        broker = env.get("broker_url", file.broker_url)
        url, password = split_password(broker or "")
        self.external_radio.setChecked(bool(broker))
        self.managed_radio.setChecked(not broker)
        self.url_edit.setText(url)
        self.password_edit.setText(password)
        for name, edit in (
            ("result_backend", self.result_backend_edit),
            ("invoice_db", self.invoice_db_edit),
        ):
            pinned = env.get(name)  # shown, never with its password
            edit.setText((mask_url(pinned) or "") if pinned else (getattr(file, name) or ""))
        pinned_widgets: dict[str, list[QWidget]] = {
            "broker_url": [
                self.managed_radio,
                self.external_radio,
                self.url_edit,
                self.password_edit,
            ],
            "result_backend": [self.result_backend_edit],
            "invoice_db": [self.invoice_db_edit],
        }
        for name, widgets in pinned_widgets.items():
            pinned_here = name in env
            for widget in widgets:
                if isinstance(widget, QLineEdit):
                    widget.setReadOnly(pinned_here)
                else:
                    widget.setEnabled(not pinned_here)
            show_note(self.env_notes[name], f"set by {ENV_OVERRIDES[name]}" if pinned_here else "")
        self._update_enabled()

    def apply(self, settings: Settings) -> Settings:
        """The form's values; the file's own for fields the environment pins."""
        broker = (
            join_password(self.url_edit.text().strip(), self.password_edit.text())
            if self.external_radio.isChecked()
            else ""
        )
        typed = {
            "broker_url": broker or None,
            "result_backend": self.result_backend_edit.text().strip() or None,
            "invoice_db": self.invoice_db_edit.text().strip() or None,
        }
        return replace(settings, **{k: v for k, v in typed.items() if k not in self._env})

    def problems(self) -> list[str]:
        if (
            "broker_url" not in self._env
            and self.external_radio.isChecked()
            and not self.url_edit.text().strip()
        ):
            return ["broker_url: give the external broker's URL, or choose Managed"]  # its field
        return []
