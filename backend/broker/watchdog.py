"""The managed broker's watchdog: nothing outlives its data directory.

A managed redis-server runs daemonized, outliving the window that started it; when its data
directory is deleted (a test's temporary ``POOLDESK_HOME``, a user removing a profile), nobody
is left who knows about it — six such servers were found lingering after measurements. This
small process, started beside each managed server, checks every ``POLL_S`` that the data
directory still exists (the same inode): when it is gone it shuts the server down (SIGTERM:
Redis's own shutdown; SIGKILL after ``GRACE_S``) and leaves. It also leaves when the server
does. Cost: one sleeping Python process per managed broker.

Usage: ``python -m pooldesk.backend.broker.watchdog DIR PID CREATE_TIME``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pooldesk.backend import proc

POLL_S = 2.0
GRACE_S = 5.0


def _inode(directory: Path) -> int | None:
    try:
        return directory.stat().st_ino
    except OSError:
        return None


def watch(directory: Path, pid: int, created: float | None, poll: float = POLL_S) -> str:
    """Block until the server exits ("server gone") or the directory does ("dir gone")."""
    inode = _inode(directory)
    while proc.alive(pid, created):
        if inode is None or _inode(directory) != inode:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
            if not proc.wait_gone(pid, created, GRACE_S):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            return "dir gone"
        time.sleep(poll)
    return "server gone"


def spawn(directory: Path, pid: int, created: float | None) -> None:
    """Start the watchdog detached (its own session), so it outlives whoever started it."""
    subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pooldesk.backend.broker.watchdog",
            str(directory),
            str(pid),
            repr(created or 0.0),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
        cwd="/",  # never pin the data directory it watches
    )


def main() -> None:
    directory, pid, created = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    watch(directory, pid, created or None)


if __name__ == "__main__":
    main()
