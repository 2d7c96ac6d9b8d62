"""Setting an unreadable file aside, and telling the user so exactly once.

Pooldesk never refuses to start over a broken ``settings.json``, ``history.db`` or ``tasks.db``:
the file is renamed ``NAME.corrupt-<time>`` (a SQLite file's ``-wal``/``-shm`` go with it, so the
copy kept for a look is whole) and a new one starts. Who sets a file aside is often not who the
user is looking at — the recorder (a background process) opens ``tasks.db``, a worker's process
reads ``settings.json`` — so every set-aside is also written to ``$POOLDESK_HOME/set-aside.json``
and the front ends (each CLI command as it ends, the window once a second) *take* the messages
not yet shown: under a lock, so each is announced once, by whichever front end comes first.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

from pooldesk.backend.fsutil import file_lock, read_json, write_json_atomic

log = logging.getLogger(__name__)

NOTICES = "set-aside.json"
_LOCK = ".set-aside.lock"
MAX_NOTICES = 50  # a file set aside in a loop must not grow the notices without bound


def set_aside(path: Path, what: str, reason: object, then: str = "starting a new one") -> str:
    """Rename ``path`` (and its SQLite companions) aside, record the notice, return its text.

    Raises ``OSError`` when the rename itself fails (a read-only folder): the caller reports
    that instead of pretending the file was replaced."""
    stamp = int(time.time())
    backup = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while backup.exists():  # two set-asides within a second keep both copies
        backup = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    path.replace(backup)
    for suffix in ("-wal", "-shm"):
        companion = Path(str(path) + suffix)
        with contextlib.suppress(FileNotFoundError):
            companion.replace(Path(str(backup) + suffix))
    text = " ".join(str(reason).split())
    message = f"{what} {path.name} was unreadable ({text}); kept as {backup.name}, {then}."
    log.info("%s", message)  # info: a CLI without logging set up must not print it twice
    try:
        _record(path.parent, message)
    except OSError as exc:  # the notice is a courtesy; the set-aside itself is done
        log.warning("could not record the set-aside notice: %s", exc)
    return message


def _record(home: Path, message: str) -> None:
    with file_lock(home / _LOCK):
        notices = _read(home)
        notices.append({"at": time.time(), "message": message})
        write_json_atomic(home / NOTICES, notices[-MAX_NOTICES:])


def _read(home: Path) -> list[dict[str, object]]:
    data = read_json(home / NOTICES)
    return [n for n in data if isinstance(n, dict)] if isinstance(data, list) else []


def take(home: Path) -> list[str]:
    """The set-aside messages nobody has shown yet, oldest first; they are then forgotten.

    Cheap when there is nothing (one ``stat``), so the window may ask every second."""
    path = home / NOTICES
    if not path.exists():
        return []
    try:
        with file_lock(home / _LOCK):
            notices = _read(home)
            path.unlink(missing_ok=True)
    except OSError:
        return []
    return [str(n.get("message")) for n in notices if n.get("message")]
