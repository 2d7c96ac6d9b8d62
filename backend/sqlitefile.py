"""The one rule for Pooldesk's SQLite files (``history.db``, ``tasks.db``): what is corruption.

Only a file SQLite itself calls damaged is set aside: result codes ``SQLITE_CORRUPT`` ("database
disk image is malformed") and ``SQLITE_NOTADB`` ("file is not a database"). Everything else — a
full disk (``SQLITE_FULL``), a read-only file or folder (``SQLITE_READONLY``, ``SQLITE_CANTOPEN``,
``SQLITE_PERM``), a file locked by another process for longer than the busy timeout
(``SQLITE_BUSY``/``SQLITE_LOCKED``), an I/O error — says nothing about the file's contents and
leaves it exactly where it is, as a :class:`StoreError` with one plain line. Why it matters: the
old rule (every ``sqlite3.DatabaseError`` is corruption) renamed a healthy ``history.db`` aside
on a full disk, and once space was back the user saw "no batches yet".

Measured (SQLite 3.x of Python 3.11, a 512 KiB tmpfs filled to 100 %): opening a healthy WAL
file whose ``-shm`` must be created fails with ``SQLITE_IOERR`` ("disk I/O error"), not
``SQLITE_FULL``; a write that grows the file fails with ``SQLITE_FULL``. Both leave the file.

No ``PRAGMA quick_check`` on open: it reads the whole file (a 500,000-task ``tasks.db`` is
hundreds of MB) on every command, and SQLite reports the damage it meets anyway.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pooldesk.backend.fsutil import file_lock
from pooldesk.backend.setaside import set_aside

T = TypeVar("T")

SQLITE_PERM, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY = 3, 5, 6, 8
SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 10, 11, 13, 14, 26
CORRUPT_CODES = frozenset({SQLITE_CORRUPT, SQLITE_NOTADB})
_CORRUPT_WORDS = ("file is not a database", "malformed", "database corrupt")

_REASONS = {
    SQLITE_FULL: "the disk is full",
    SQLITE_READONLY: "it is read-only",
    SQLITE_CANTOPEN: "it cannot be opened (read-only or missing folder, or no permission)",
    SQLITE_PERM: "no permission",
    SQLITE_BUSY: "it is locked by another process",
    SQLITE_LOCKED: "it is locked by another process",
    SQLITE_IOERR: "a disk I/O error (a full or failing disk)",
}


class StoreError(Exception):
    """A history file that cannot be used right now; it was left as it is."""


def _code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None  # extended codes → primary


def is_corruption(exc: BaseException) -> bool:
    """True only for damage SQLite itself reports (see the module docstring)."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = _code(exc)
    if code is not None:
        return code in CORRUPT_CODES
    text = str(exc).lower()  # an error raised without a code (e.g. by a wrapper)
    return any(word in text for word in _CORRUPT_WORDS)


def reason(exc: BaseException) -> str:
    """Why a file cannot be used, in words an ops person acts on, with SQLite's own text."""
    plain = _REASONS.get(_code(exc) or -1)
    detail = " ".join(str(exc).split())
    return f"{plain} ({detail})" if plain else detail


def unusable(path: Path, what: str, exc: BaseException) -> StoreError:
    return StoreError(f"{what} {path} cannot be used: {reason(exc)}; the file was left as it is")


def open_checked(path: Path, what: str, opener: Callable[[], T]) -> tuple[T, str | None]:
    """Run ``opener`` (connect, create the schema, read once); on corruption set the file
    aside and run it again on a new file. Returns its result and the set-aside message.

    ``opener`` must close what it opened when it raises. Raises :class:`StoreError` for
    anything that is not corruption, and when the file cannot even be set aside."""
    try:
        return opener(), None
    except sqlite3.DatabaseError as exc:
        if not is_corruption(exc):
            raise unusable(path, what, exc) from exc
    # Two processes meeting the same damaged file (``tasks list`` and the recorder) must not
    # both set it aside: the second would rename the first one's new, healthy file.
    with file_lock(path.parent / ".set-aside-files.lock"):
        try:
            return opener(), None  # another process replaced it meanwhile
        except sqlite3.DatabaseError as exc:
            if not is_corruption(exc):
                raise unusable(path, what, exc) from exc
            try:
                message = set_aside(path, what, exc, then="starting a new history")
            except OSError as err:
                raise StoreError(
                    f"{what} {path} is damaged ({exc}) and could not be set aside ({err.strerror})"
                ) from err
        try:
            return opener(), message
        except sqlite3.DatabaseError as exc:
            raise unusable(path, what, exc) from exc
