"""The fleet key: one secret shared by the panel and every agent, in a file of mode 0600.

Where it is: ``$POOLDESK_FLEET_KEY_FILE``, else the ``fleet_key_file`` setting, else
``$POOLDESK_HOME/fleet.key`` when that file exists (what ``pooldesk fleet key init`` writes by
default). No key is not an error for watching (announces and samples are not signed: the
broker's own credentials guard them); it is for commanding, with :data:`NO_KEY` as the message.
A key file readable by group or others is refused, like ssh refuses a private key: a key that
anyone on the host can read commands every host of the fleet.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from pooldesk.backend import paths

KEY_ENV = "POOLDESK_FLEET_KEY_FILE"
KEY_BYTES = 32
DEFAULT_NAME = "fleet.key"
NO_KEY = (
    "no fleet key: this panel can watch hosts but not command them (create one with "
    "'pooldesk fleet key init', copy it to every host with mode 0600, and point "
    f"{KEY_ENV} or the fleet_key_file setting at it)"
)


class FleetKeyError(ValueError):
    """The key is configured but cannot be used: the message says why and what to do."""


def default_path() -> Path:
    return paths.root_path() / DEFAULT_NAME


def configured_path(setting: str | None = None) -> Path | None:
    """The key file named by the environment, the setting, or the default file if present."""
    named = os.environ.get(KEY_ENV) or setting
    if named:
        return Path(named).expanduser()
    path = default_path()
    return path if path.exists() else None


def read_key(path: Path) -> bytes:
    """The key's bytes; a missing, unsafe or malformed file is a :class:`FleetKeyError`."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise FleetKeyError(f"fleet key file {path} does not exist") from None
    except OSError as exc:
        raise FleetKeyError(f"fleet key file {path} cannot be read: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise FleetKeyError(f"fleet key file {path} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise FleetKeyError(
            f"fleet key file {path} has mode {mode:04o}: it must be readable by its owner only "
            f"(chmod 600 {path})"
        )
    try:
        text = path.read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except (OSError, UnicodeDecodeError, ValueError):
        raise FleetKeyError(
            f"fleet key file {path} does not hold a hex key (make one: pooldesk fleet key init)"
        ) from None
    if len(key) < 16:
        raise FleetKeyError(f"fleet key file {path} holds {len(key)} bytes: at least 16 needed")
    return key


def load_key(setting: str | None = None) -> bytes | None:
    """The configured key, None when none is configured (watch only)."""
    path = configured_path(setting)
    return read_key(path) if path is not None else None


def init_key(path: Path | None = None) -> Path:
    """Write a new random key (32 bytes, hex) with mode 0600; never overwrites a file."""
    path = (path or default_path()).expanduser()
    if path.exists():
        raise FleetKeyError(f"{path} already exists: remove it first to make a new key")
    if not path.parent.is_dir():
        if path.parent == paths.root_path():
            paths.home()
        else:
            raise FleetKeyError(f"folder {path.parent} does not exist")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_hex(KEY_BYTES) + "\n")
    os.chmod(path, 0o600)  # whatever the umask said
    return path
