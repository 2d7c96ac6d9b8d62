"""Process liveness checks that survive pid reuse and zombies."""

from __future__ import annotations

import contextlib
import os
import time

import psutil


def alive(pid: int | None, create_time: float | None = None) -> bool:
    """True when ``pid`` runs and, if given, was created at ``create_time`` (not a reused pid)."""
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            _reap(pid)
            return False
        return create_time is None or abs(proc.create_time() - create_time) < 1.0
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def create_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _reap(pid: int) -> None:
    """Collect a zombie that is our own child so it does not linger in the process table."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def wait_gone(pid: int, create_time: float | None, timeout: float) -> bool:
    """Poll until the process is gone (a zombie counts as gone); False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid, create_time):
            return True
        time.sleep(0.05)
    return not alive(pid, create_time)
