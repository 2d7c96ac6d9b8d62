"""The ``pooldesk`` command run as a user types it (a real process), for the unit and the
integration tests alike."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent / "pooldesk"
CMD = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "backend"]


def pooldesk(
    *args: str, env: dict[str, str] | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CMD, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
