"""One settings object for the whole window: loaded once, saved through the backend, pushed on
change.

Before it, the settings page, the metrics toggle, the presets menu and each controller read
``settings.json`` on their own, so two of them could disagree (the page saving a stale
``metrics_port`` over the toggle's) and a tick re-read the file. Now the hub is the only reader
and writer in the window; whoever needs settings gets them from ``settingsChanged``.

It keeps two views of the same file: :attr:`file` is what ``settings.json`` holds (the settings
page edits exactly that), :meth:`effective` is what Pooldesk runs with (the file, then the
environment's ``POOLDESK_BROKER_URL``… on top). ``settingsChanged`` carries the effective one.

It sits beside ``presets.py`` rather than in ``shell/`` because views hold it (the settings page,
the metrics toggle) and views never import the shell that builds them.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from pooldesk.backend import settings as settings_mod
from pooldesk.backend.settings import ENV_OVERRIDES, Settings


class SettingsHub(QObject):
    settingsChanged = Signal(object)  # Settings, effective (file + environment)

    def __init__(self, path: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._path = path
        self.file = Settings()
        self.message: str | None = None  # "settings.json was unreadable…", shown once
        self.reload()

    # -- reading -----------------------------------------------------------------------------
    def reload(self) -> None:
        """Read the file again (start-up, or a test that wrote it by hand) and push it."""
        loaded = settings_mod.load(self._path, env=False)
        self.file, self.message = loaded.settings, loaded.message
        self.settingsChanged.emit(self.effective())

    def effective(self) -> Settings:
        """The file's settings with the environment's overrides on top (what runs)."""
        return replace(self.file, **self.env_values())

    @staticmethod
    def env_values() -> dict[str, str]:
        """Fields pinned by an environment variable, by field name (read live: no file)."""
        return {name: os.environ[var] for name, var in ENV_OVERRIDES.items() if os.environ.get(var)}

    # -- writing -----------------------------------------------------------------------------
    def save(self, settings: Settings) -> Path:
        """Write ``settings`` (the file's values, never the environment's) and push them.

        Raises what :func:`pooldesk.backend.settings.save` raises (``ValueError`` for invalid
        settings, ``OSError``); nothing changes then."""
        path = settings_mod.save(settings, self._path)
        self.file = settings
        self.settingsChanged.emit(self.effective())
        return path

    def update(self, **changes: Any) -> Path:
        """Save the file's settings with a few fields changed (e.g. ``metrics_port``)."""
        return self.save(replace(self.file, **changes))
