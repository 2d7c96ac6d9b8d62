"""The one corruption rule of history.db and tasks.db (backend/sqlitefile.py), fed real SQLite
errors: a full database (``PRAGMA max_page_count``: SQLite's own SQLITE_FULL), a read-only
connection (``mode=ro`` URI: SQLITE_READONLY, which chmod cannot give as root), a lock held by
another connection (SQLITE_BUSY), a file that is not a database and a malformed one. The stores
are then opened in a child process whose file-size limit (RLIMIT_FSIZE) makes every write fail
as a full disk does, so the healthy file must be left exactly where it is."""

from __future__ import annotations

import gc
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from pooldesk.backend import setaside
from pooldesk.backend.batches.history import BatchRecord, HistoryStore
from pooldesk.backend.sqlitefile import StoreError, is_corruption, open_checked
from pooldesk.backend.taskhistory.store import TaskStore


def _db(path: Path, rows: int = 200) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x TEXT)")
    conn.executemany("INSERT INTO t VALUES (?)", [("x" * 300,)] * rows)
    conn.commit()
    conn.close()
    return path


def _error(action) -> sqlite3.Error:  # type: ignore[no-untyped-def]
    with pytest.raises(sqlite3.Error) as caught:
        action()
    return caught.value


def test_a_full_database_is_not_corruption(tmp_path: Path) -> None:
    conn = sqlite3.connect(_db(tmp_path / "a.db"))
    conn.execute("PRAGMA max_page_count = 1")  # no page beyond those in use: SQLITE_FULL
    exc = _error(lambda: conn.execute("INSERT INTO t VALUES (?)", ("y" * 100_000,)))
    assert "full" in str(exc) and not is_corruption(exc)


def test_read_only_and_locked_are_not_corruption(tmp_path: Path) -> None:
    path = _db(tmp_path / "a.db")
    ro = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    exc = _error(lambda: ro.execute("INSERT INTO t VALUES ('y')"))
    assert "readonly" in str(exc) and not is_corruption(exc)
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(path, timeout=0)
    exc = _error(lambda: other.execute("SELECT count(*) FROM t").fetchone())
    assert "locked" in str(exc) and not is_corruption(exc)
    holder.rollback()


def test_not_a_database_and_a_malformed_one_are_corruption(tmp_path: Path) -> None:
    garbage = tmp_path / "g.db"
    garbage.write_bytes(os.urandom(8192))
    exc = _error(lambda: sqlite3.connect(garbage).execute("SELECT 1 FROM sqlite_master").fetchone())
    assert is_corruption(exc)
    path = _db(tmp_path / "m.db")
    with path.open("r+b") as fh:  # the schema page's tail and the first data pages
        fh.seek(100)
        fh.write(b"\xff" * 8000)
    exc = _error(lambda: sqlite3.connect(path).execute("SELECT count(*) FROM t").fetchone())
    assert "malformed" in str(exc) and is_corruption(exc)


def test_only_corruption_is_set_aside_and_announced_once(tmp_path: Path) -> None:
    path = _db(tmp_path / "a.db")

    def full() -> None:
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA max_page_count = 1")
        try:
            conn.execute("INSERT INTO t VALUES (?)", ("y" * 100_000,))
        finally:
            conn.close()

    with pytest.raises(StoreError, match=r"the disk is full.*left as it is"):
        open_checked(path, "Batch history", full)
    assert path.exists() and not list(tmp_path.glob("*.corrupt-*"))
    assert setaside.take(tmp_path) == []

    path.write_bytes(os.urandom(8192))
    calls = []

    def opener() -> str:
        calls.append(1)
        sqlite3.connect(path).execute("SELECT 1 FROM sqlite_master").fetchone()
        return "opened"

    result, message = open_checked(path, "Batch history", opener)
    assert result == "opened" and len(calls) == 3 and message  # tried again under the lock
    assert len(list(tmp_path.glob("a.db.corrupt-*"))) == 1
    assert setaside.take(tmp_path) == [message]
    assert setaside.take(tmp_path) == []  # said once


_OPEN = """
import sys
from pathlib import Path
from pooldesk.backend.batches.history import HistoryStore
from pooldesk.backend.sqlitefile import StoreError
from pooldesk.backend.taskhistory.store import TaskStore
try:
    (HistoryStore if sys.argv[1] == "history" else TaskStore)(Path(sys.argv[2]))
except StoreError as exc:
    print(exc)
    raise SystemExit(1)
"""


def _no_room() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails, as on ENOSPC
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))


@pytest.mark.parametrize("which", ["history", "tasks"])
def test_a_healthy_store_on_a_disk_that_takes_no_write_is_left_alone(
    which: str, tmp_path: Path
) -> None:
    path = tmp_path / f"{which}.db"
    if which == "history":
        HistoryStore(path).add(BatchRecord("b1", "invoices", {"customers": 10}, "completed", 1.0))
    else:
        TaskStore(path).close()
    gc.collect()  # the last connection closed: -wal and -shm gone, as after any command
    assert not Path(f"{path}-shm").exists()
    before = path.read_bytes()
    done = subprocess.run(
        [sys.executable, "-c", _OPEN, which, str(path)],
        preexec_fn=_no_room,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "cannot be used" in done.stdout and "left as it is" in done.stdout
    assert path.read_bytes() == before and not list(tmp_path.glob("*.corrupt-*"))
    if which == "history":  # space is back: the batches are all there
        assert [r.id for r in HistoryStore(path).list()] == ["b1"]
