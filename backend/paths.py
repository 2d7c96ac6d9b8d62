"""Where Pooldesk keeps everything it writes.

One root (``$POOLDESK_HOME``, else the platform's user data dir) so that tests and parallel
instances never collide, and so a user can find or wipe all of Pooldesk's state in one place.
Nothing is created at import time: callers ask for a directory and it is made on demand.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "pooldesk"
HOME_ENV = "POOLDESK_HOME"


def home() -> Path:
    """The data root, created (mode 0700) on first use."""
    override = os.environ.get(HOME_ENV)
    root = Path(override).expanduser() if override else Path(platformdirs.user_data_dir(APP_NAME))
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return root


def subdir(name: str) -> Path:
    path = home() / name
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def broker_dir() -> Path:
    """Managed redis-server's config, AOF files, log and state record."""
    return subdir("broker")


def logs_dir() -> Path:
    """One rotated log per worker, plus Pooldesk's own log."""
    return subdir("logs")


def app_logs_dir() -> Path:
    """Pooldesk's own log, apart from the worker logs so no worker name can collide with it."""
    return subdir("logs/app")


def workers_dir() -> Path:
    """Per-worker records (spec, pids, exit status) shared by every Pooldesk process."""
    return subdir("workers")


def settings_file() -> Path:
    return home() / "settings.json"
