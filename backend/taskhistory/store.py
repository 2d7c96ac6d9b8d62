"""The task history file (``$POOLDESK_HOME/tasks.db``, SQLite in WAL mode).

One row per task id, built up from its events by an idempotent *merge*: a column keeps its
value until an event brings a new one, and the state only moves forward (a state replaces one of
lower rank, or any non-final state when its event is newer) — so events may arrive twice or out
of order (a client's ``task-sent`` after the worker's ``task-received``) and the row comes out
the same. The recorder writes in batches (one transaction per flush); readers never block it
(WAL). Retention is by count and age. Periods in which nothing was listening are kept as *gaps*
so a reader can say "not recorded from … to …" instead of showing a silently incomplete list.
A corrupt file is kept aside and a fresh one started; a full disk, a read-only or locked file
is an error that leaves it alone — the batch history's rule, from ``backend/sqlitefile.py``.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pooldesk.backend import paths
from pooldesk.backend.sqlitefile import open_checked
from pooldesk.backend.taskhistory.normalise import FINAL_RANK

COLUMNS = (
    "id",
    "broker",
    "name",
    "queue",
    "worker",
    "state",
    "rank",
    "state_ts",
    "first_ts",
    "updated_ts",
    "sent_ts",
    "received_ts",
    "started_ts",
    "ended_ts",
    "runtime",
    "retries",
    "eta",
    "args",
    "kwargs",
    "args_hidden",
    "result",
    "exception",
    "exc_type",
    "exc_group",
    "traceback",
    "root_id",
    "parent_id",
    "group_id",
    "batch",
    "note",
    # The earliest task-started of the id (``started_ts`` keeps the latest): two apart, with no
    # retry, mean the broker delivered it twice (the audit's visibility-timeout evidence).
    "started_first_ts",
)
_STATE_COLS = ("state", "rank", "state_ts")

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY, broker TEXT NOT NULL, name TEXT, queue TEXT, worker TEXT,
    state TEXT, rank INTEGER NOT NULL DEFAULT 0, state_ts REAL, first_ts REAL NOT NULL,
    updated_ts REAL, sent_ts REAL, received_ts REAL, started_ts REAL, ended_ts REAL,
    runtime REAL, retries INTEGER, eta TEXT, args TEXT, kwargs TEXT, args_hidden INTEGER,
    result TEXT, exception TEXT, exc_type TEXT, exc_group TEXT, traceback TEXT,
    root_id TEXT, parent_id TEXT, group_id TEXT, batch TEXT, note TEXT, started_first_ts REAL
);
CREATE INDEX IF NOT EXISTS tasks_ts ON tasks (first_ts);
CREATE INDEX IF NOT EXISTS tasks_state ON tasks (state, first_ts);
CREATE INDEX IF NOT EXISTS tasks_name ON tasks (name, first_ts);
CREATE INDEX IF NOT EXISTS tasks_queue ON tasks (queue, first_ts);
CREATE INDEX IF NOT EXISTS tasks_worker ON tasks (worker, first_ts);
CREATE INDEX IF NOT EXISTS tasks_group ON tasks (exc_group, first_ts);
CREATE TABLE IF NOT EXISTS gaps (
    id INTEGER PRIMARY KEY, broker TEXT NOT NULL, start_ts REAL NOT NULL, end_ts REAL NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS recorders (
    broker TEXT PRIMARY KEY, last_alive REAL NOT NULL, clean INTEGER NOT NULL DEFAULT 0,
    started_ts REAL
);
"""


def _upsert_sql() -> str:
    names = ", ".join(COLUMNS)
    marks = ", ".join("?" for _ in COLUMNS)
    newer = (
        f"(excluded.rank > tasks.rank OR (tasks.rank < {FINAL_RANK} AND "
        "excluded.state_ts > COALESCE(tasks.state_ts, 0)))"
    )
    sets = []
    for col in COLUMNS[1:]:
        if col in _STATE_COLS:
            sets.append(f"{col} = CASE WHEN {newer} THEN excluded.{col} ELSE tasks.{col} END")
        elif col == "first_ts":
            sets.append("first_ts = MIN(tasks.first_ts, excluded.first_ts)")
        elif col == "started_first_ts":
            sets.append(
                f"{col} = MIN(COALESCE(tasks.{col}, excluded.{col}), "
                f"COALESCE(excluded.{col}, tasks.{col}))"
            )
        elif col in ("updated_ts", "retries"):
            sets.append(f"{col} = MAX(COALESCE(tasks.{col}, 0), COALESCE(excluded.{col}, 0))")
        else:
            sets.append(f"{col} = COALESCE(excluded.{col}, tasks.{col})")
    return (
        f"INSERT INTO tasks ({names}) VALUES ({marks}) "
        f"ON CONFLICT(id) DO UPDATE SET {', '.join(sets)}"
    )


UPSERT = _upsert_sql()


def merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The same rules as the SQL upsert, for rows merged in memory before a flush."""
    out = dict(old)
    newer = new["rank"] > old["rank"] or (
        old["rank"] < FINAL_RANK and (new.get("state_ts") or 0) > (old.get("state_ts") or 0)
    )
    for col, value in new.items():
        if col in _STATE_COLS:
            if newer:
                out[col] = value
        elif col == "first_ts":
            out[col] = min(old.get(col) or value, value)
        elif col == "started_first_ts":
            known = [v for v in (old.get(col), value) if v is not None]
            out[col] = min(known) if known else None
        elif col in ("updated_ts", "retries"):
            out[col] = max(old.get(col) or 0, value or 0)
        elif value is not None:
            out[col] = value
    return out


@dataclass(frozen=True)
class Gap:
    broker: str
    start_ts: float
    end_ts: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "broker": self.broker,
            "from": self.start_ts,
            "to": self.end_ts,
            "seconds": round(self.end_ts - self.start_ts, 1),
            "reason": self.reason,
        }


def default_path() -> Path:
    return paths.home() / "tasks.db"


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=10, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    if not readonly:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _add_columns(conn: sqlite3.Connection) -> None:
    """A file written before a column existed gets it (NULL in old rows)."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(tasks)")}
    with conn:
        for col in ("started_first_ts",):
            if col not in have:
                conn.execute(f"ALTER TABLE tasks ADD COLUMN {col} REAL")


class TaskStore:
    """The writer side (the recorder) plus the housekeeping every process may do."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self.message: str | None = None
        self._conn = self._open()

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        conn, self.message = open_checked(self.path, "Task history", self._create)
        return conn

    def _create(self) -> sqlite3.Connection:
        conn = connect(self.path)
        try:
            conn.executescript(SCHEMA)
            conn.execute("SELECT count(*) FROM tasks").fetchone()
            _add_columns(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def file_id(self) -> tuple[int, int] | None:
        """(device, inode) of the file at ``path`` now; ``None`` when there is none. The
        recorder compares it with the one it opened to notice a file set aside under it."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_dev, st.st_ino)

    def close(self) -> None:
        self._conn.close()

    def write(self, rows: Iterable[dict[str, Any]]) -> int:
        """Upsert rows (partial column sets) in one transaction; returns how many."""
        params = [tuple(row.get(col) for col in COLUMNS) for row in rows]
        if not params:
            return 0
        with self._conn:
            self._conn.executemany(UPSERT, params)
        return len(params)

    def prune(self, max_tasks: int, max_age_s: float, now: float | None = None) -> int:
        """Drop tasks older than ``max_age_s`` and the oldest beyond ``max_tasks``."""
        now = time.time() if now is None else now
        with self._conn:
            gone = self._conn.execute(
                "DELETE FROM tasks WHERE first_ts < ?", (now - max_age_s,)
            ).rowcount
            count = self._conn.execute("SELECT count(*) FROM tasks").fetchone()[0]
            if count > max_tasks:
                cutoff = self._conn.execute(
                    "SELECT first_ts FROM tasks ORDER BY first_ts LIMIT 1 OFFSET ?",
                    (count - max_tasks - 1,),
                ).fetchone()[0]
                gone += self._conn.execute(
                    "DELETE FROM tasks WHERE first_ts <= ?", (cutoff,)
                ).rowcount
            self._conn.execute("DELETE FROM gaps WHERE end_ts < ?", (now - max_age_s,))
        return int(gone)

    # -- the recorder's own liveness, for gaps ------------------------------------------------
    def alive(self, broker: str, now: float | None = None, clean: bool = False) -> None:
        with self._conn:
            self._conn.execute(
                "INSERT INTO recorders (broker, last_alive, clean) VALUES (?, ?, ?) "
                "ON CONFLICT(broker) DO UPDATE SET last_alive=excluded.last_alive, "
                "clean=excluded.clean",
                (broker, time.time() if now is None else now, int(clean)),
            )

    def last_alive(self, broker: str) -> tuple[float, bool] | None:
        row = self._conn.execute(
            "SELECT last_alive, clean FROM recorders WHERE broker=?", (broker,)
        ).fetchone()
        return (float(row[0]), bool(row[1])) if row else None

    def add_gap(self, gap: Gap) -> None:
        with self._conn:
            self._conn.execute(
                "INSERT INTO gaps (broker, start_ts, end_ts, reason) VALUES (?, ?, ?, ?)",
                (gap.broker, gap.start_ts, gap.end_ts, gap.reason),
            )

    def set_queues(self, queues: dict[str, str]) -> int:
        """Fill in the queue of tasks whose events did not carry it (a worker's events never
        do; its in-worker probe knows each delivery's routing key). Never overwrites one."""
        with self._conn:
            cursor = self._conn.executemany(
                "UPDATE tasks SET queue=? WHERE id=? AND queue IS NULL",
                [(queue, task_id) for task_id, queue in queues.items()],
            )
        return cursor.rowcount

    def open_ids(self, broker: str, before: float) -> list[str]:
        """Tasks still unfinished that were last heard of before ``before`` (a gap's start)."""
        rows = self._conn.execute(
            "SELECT id FROM tasks WHERE broker=? AND rank < ? AND updated_ts < ? "
            "ORDER BY first_ts DESC LIMIT 5000",
            (broker, FINAL_RANK, before),
        ).fetchall()
        return [r[0] for r in rows]
