"""Finding the managed broker again when its record is lost, and who holds a port.

``broker.json`` is the record of the running server, but it can be lost while the server runs:
the window SIGTERMed between launching the daemon and saving the record (measured: 2 of 2 runs
when killed 0.5 s after the window mapped), or the file truncated by hand. Taking the record's
word for it then started a *second* redis-server over the same data directory (two servers, one
AOF). So the server itself is the truth: a redis-server/valkey-server whose working directory
is this data directory (Redis ``chdir``s to its ``dir`` at start; its command line is rewritten
to ``redis-server 127.0.0.1:PORT`` once daemonized, so the cwd is what names the data dir), and
its port and password come back from ``redis.conf`` (mode 0600, written at each start).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import psutil

SERVER_NAMES = ("redis-server", "valkey-server")


def read_conf(conf: Path) -> tuple[int, str] | None:
    """``(port, password)`` from the ``redis.conf`` Pooldesk wrote, or None."""
    port: int | None = None
    password: str | None = None
    try:
        text = conf.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key == "port" and value.strip().isdigit():
            port = int(value.strip())
        elif key == "requirepass" and value.strip():
            password = value.strip()
    return (port, password) if port and password else None


def servers_in(directory: Path) -> list[psutil.Process]:
    """Running redis/valkey servers whose working directory is ``directory``."""
    target = str(directory.resolve()) if directory.exists() else str(directory)
    found: list[psutil.Process] = []
    for process in psutil.process_iter(["name"]):
        name = process.info.get("name") or ""
        if not name.startswith(SERVER_NAMES):
            continue
        with contextlib.suppress(psutil.Error, OSError):
            cwd = process.cwd()
            if cwd == target or cwd.removesuffix(" (deleted)") == target:
                found.append(process)
    return found


def has_watchdog(directory: Path) -> bool:
    """A ``broker.watchdog`` process watches ``directory`` (see ``watchdog.py``)."""
    for process in psutil.process_iter(["cmdline"]):
        cmd = process.info.get("cmdline") or []
        if "pooldesk.backend.broker.watchdog" in cmd and str(directory) in cmd:
            return True
    return False


def port_holder(port: int) -> str | None:
    """ "python3 (pid 123)" for the local process listening on ``port``, if it can be seen."""
    try:
        connections = psutil.net_connections("tcp")
    except (psutil.Error, OSError):
        return None
    for conn in connections:
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
            if not conn.pid:
                return None
            with contextlib.suppress(psutil.Error):
                return f"{psutil.Process(conn.pid).name()} (pid {conn.pid})"
            return f"pid {conn.pid}"
    return None
