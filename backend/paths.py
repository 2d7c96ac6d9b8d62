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


class HomeError(Exception):
    """The data directory cannot be used; ``code`` is the CLI's exit code for it (2: the
    ``POOLDESK_HOME`` value itself is wrong; 1: the folder exists but cannot be written)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def root_path() -> Path:
    """Where the data root is, without creating or checking it."""
    override = os.environ.get(HOME_ENV)
    return Path(override).expanduser() if override else Path(platformdirs.user_data_dir(APP_NAME))


def home() -> Path:
    """The data root, created (mode 0700) on first use.

    A root that is a file, or cannot be written, is a :class:`HomeError` with one plain line,
    never a ``FileExistsError`` traceback. Writability is ``os.access`` (the kernel's own
    answer for this process): a read-only mount says no even to root, a ``chmod 555`` folder
    says no to everyone but root, who can indeed write there."""
    override = os.environ.get(HOME_ENV)
    root = root_path()
    source = f"{HOME_ENV} {root}" if override else f"the data directory {root}"
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
    except FileExistsError:
        raise HomeError(
            f"{source} is not a folder (a file is in the way); point {HOME_ENV} at a folder",
            code=2 if override else 1,
        ) from None
    except NotADirectoryError:
        raise HomeError(
            f"{source} cannot be created: a file is in its path", code=2 if override else 1
        ) from None
    except OSError as exc:
        raise HomeError(f"{source} cannot be created: {exc.strerror}") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise HomeError(
            f"{source} is read-only: Pooldesk keeps its broker, worker records and history "
            f"there (set {HOME_ENV} to a writable folder)"
        )
    return root


def subdir(name: str) -> Path:
    path = home() / name
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except FileExistsError:
        raise HomeError(f"{path} is not a folder (a file is in the way)") from None
    except OSError as exc:
        raise HomeError(f"{path} cannot be created: {exc.strerror}") from None
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
