"""Batch history in Pooldesk's own SQLite file (``$POOLDESK_HOME/history.db``).

The result backend forgets after ``result_expires``; ops staff need last month's runs. Every
launch is recorded at once, and every refresh of a batch's state writes through, so the list
survives restarts of the panel, the broker and the workers. A corrupt file is kept aside and a
fresh one started, never a crash on start.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pooldesk.backend import paths
from pooldesk.backend.sqlitefile import open_checked

FINAL_STATES = frozenset({"completed", "completed_with_failures", "cancelled", "error"})

SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    params TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    counts TEXT NOT NULL DEFAULT '{}',
    summary TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS batches_created ON batches (created_at DESC);
CREATE TABLE IF NOT EXISTS batch_rows (
    batch_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    rank INTEGER NOT NULL,
    row TEXT NOT NULL,
    PRIMARY KEY (batch_id, idx)
);
"""


@dataclass
class BatchRecord:
    id: str
    kind: str  # invoices | monitoring
    params: dict[str, Any]
    state: str  # queued | running | completed | completed_with_failures | cancelled | error
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    counts: dict[str, int] = field(default_factory=dict)
    summary: dict[str, Any] | None = None
    error: str | None = None

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    def to_dict(self, with_summary: bool = True) -> dict[str, Any]:
        data = asdict(self)
        if not with_summary:
            data.pop("summary")
        return data


class HistoryStore:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.home() / "history.db"
        self.message: str | None = None
        self._init()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    def _init(self) -> None:
        _, self.message = open_checked(self.path, "Batch history", self._create)

    def _create(self) -> None:
        conn = self._connect()
        try:
            with conn:
                conn.executescript(SCHEMA)
                conn.execute("SELECT count(*) FROM batches").fetchone()
        finally:
            conn.close()

    def add(self, record: BatchRecord) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO batches (id, kind, params, state, created_at, counts) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.kind,
                    json.dumps(record.params),
                    record.state,
                    record.created_at,
                    json.dumps(record.counts),
                ),
            )

    def update(self, record: BatchRecord) -> None:
        with self._connect() as conn:
            self._update(conn, record)

    def _update(self, conn: sqlite3.Connection, record: BatchRecord) -> None:
        conn.execute(
            "UPDATE batches SET state=?, started_at=?, finished_at=?, counts=?, summary=?, "
            "error=? WHERE id=?",
            (
                record.state,
                record.started_at,
                record.finished_at,
                json.dumps(record.counts),
                json.dumps(record.summary) if record.summary is not None else None,
                record.error,
                record.id,
            ),
        )

    def reopen(self, record: BatchRecord) -> None:
        """A retry's round about to begin: the record as running (``update``) and its kept rows
        gone (the round's are kept when it ends), in one transaction. Written before the
        round's ledger script, so whatever that script did, the record is one a refresh
        follows: a refresh reads the old end back if the script never ran."""
        with self._connect() as conn:
            self._update(conn, record)
            conn.execute("DELETE FROM batch_rows WHERE batch_id=?", (record.id,))

    def add_rows(self, batch_id: str, rows: list[dict[str, Any]]) -> None:
        """A finished batch's rows (one per chunk or URL), added a slice at a time, kept apart
        from ``batches`` so lists never load them. ``rank``: failed 0, cancelled 1, others 2."""
        with self._connect() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO batch_rows (batch_id, idx, rank, row) VALUES (?, ?, ?, ?)",
                [
                    (batch_id, int(r["index"]), _rank(r), json.dumps(r, separators=(",", ":")))
                    for r in rows
                ],
            )

    def drop_rows(self, batch_id: str) -> None:
        with self._connect() as conn:
            conn.execute("DELETE FROM batch_rows WHERE batch_id=?", (batch_id,))

    def has_rows(self, batch_id: str) -> bool:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT 1 FROM batch_rows WHERE batch_id=? LIMIT 1", (batch_id,)
            ).fetchone()
        return row is not None

    def rows(self, batch_id: str, limit: int | None = None) -> list[dict[str, Any]] | None:
        """All rows by index; with ``limit``, failures and cancellations first."""
        query = "SELECT row FROM batch_rows WHERE batch_id=? ORDER BY "
        query += "idx" if limit is None else "rank, idx LIMIT ?"
        args: tuple[Any, ...] = (batch_id,) if limit is None else (batch_id, limit)
        with self._connect() as conn:
            found = conn.execute(query, args).fetchall()
        return [json.loads(r[0]) for r in found] if found else None

    def get(self, batch_id: str) -> BatchRecord | None:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM batches WHERE id=?", (batch_id,)).fetchone()
        return _row(row) if row else None

    def find(self, prefix: str) -> list[BatchRecord]:
        """Batch ids are long: accept any unique prefix, as git does."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT * FROM batches WHERE id LIKE ? ORDER BY created_at DESC LIMIT 2",
                (prefix.replace("%", "") + "%",),
            ).fetchall()
        return [_row(r) for r in rows]

    def list(self, limit: int = 200, active_only: bool = False) -> list[BatchRecord]:
        query = "SELECT * FROM batches"
        if active_only:
            query += " WHERE state IN ('queued', 'running')"
        query += " ORDER BY created_at DESC LIMIT ?"
        with self._connect() as conn:
            rows = conn.execute(query, (limit,)).fetchall()
        return [_row(r) for r in rows]


def _row(row: tuple[Any, ...]) -> BatchRecord:
    (id_, kind, params, state, created, started, finished, counts, summary, error) = row
    return BatchRecord(
        id=id_,
        kind=kind,
        params=json.loads(params),
        state=state,
        created_at=created,
        started_at=started,
        finished_at=finished,
        counts=json.loads(counts or "{}"),
        summary=json.loads(summary) if summary else None,
        error=error,
    )


def _rank(row: dict[str, Any]) -> int:
    if row.get("state") == "REVOKED":
        return 1
    return 0 if row.get("reason") or row.get("state") != "SUCCESS" else 2
