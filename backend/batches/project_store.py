"""A project batch's children, kept by Pooldesk (``$POOLDESK_HOME/project_batches.db``).

Why not the demo's Redis ledger: a user's task cannot report to Pooldesk (nothing of Pooldesk
runs in the user's code, and their broker may be RabbitMQ), so Pooldesk itself is the only one
who knows the plan. One row per child: the call, the items it covers, whether it was *sent*
(a launch that stops part way leaves ``sent=0`` rows: retry sends those), and the state as last
read from the project's result backend. The follower reads only the open rows at the front
(``front``), and the counts come from a ``tally`` moved by each change (not a ``GROUP BY`` over
every child), so a refresh costs the same at 1,000 or 100,000 children.

States: Celery's (``PENDING``, ``STARTED``, ``SUCCESS``, ``FAILURE``, ``REVOKED``) plus
``LOST`` (its worker died while it ran and the app acks early: Celery will not run it again)
and ``REDELIVERED`` (the same, with ``acks_late``: the broker hands it to a worker again).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pooldesk.backend import paths
from pooldesk.backend.sqlitefile import open_checked

OPEN = ("PENDING", "STARTED", "REDELIVERED")
FAILED = ("FAILURE", "LOST")
SCHEMA = """
CREATE TABLE IF NOT EXISTS children (
    batch_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    task_id TEXT NOT NULL,
    call TEXT NOT NULL,
    covers TEXT NOT NULL,
    items INTEGER NOT NULL,
    sent INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'PENDING',
    worker TEXT,
    result TEXT,
    reason TEXT,
    seen_at REAL,
    ended_at REAL,
    PRIMARY KEY (batch_id, idx)
);
-- The front: open children in index order, so LIMIT stops early (an index on (sent, state,
-- idx) made SQLite sort every open child: 20 → 35 ms a refresh from 1,000 to 100,000).
CREATE INDEX IF NOT EXISTS children_front ON children (batch_id, idx)
    WHERE sent=1 AND state IN ('PENDING', 'STARTED', 'REDELIVERED');
CREATE INDEX IF NOT EXISTS children_state ON children (batch_id, state);
CREATE TABLE IF NOT EXISTS tally (
    batch_id TEXT NOT NULL,
    sent INTEGER NOT NULL,
    state TEXT NOT NULL,
    children INTEGER NOT NULL,
    items INTEGER NOT NULL,
    PRIMARY KEY (batch_id, sent, state)
);
CREATE TABLE IF NOT EXISTS senders (
    batch_id TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    create_time REAL
);
CREATE TABLE IF NOT EXISTS cancels (batch_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS pings (
    host TEXT PRIMARY KEY,
    missed INTEGER NOT NULL,
    first_missed REAL
);
"""


@dataclass
class Child:
    index: int
    task_id: str
    args: list[Any]
    kwargs: dict[str, Any]
    covers: dict[str, Any]
    items: int
    sent: bool = False
    state: str = "PENDING"
    worker: str | None = None
    result: Any = None
    reason: str | None = None
    seen_at: float | None = None
    ended_at: float | None = None

    @property
    def open(self) -> bool:
        return self.sent and self.state in OPEN

    def row(self) -> dict[str, Any]:
        """What ``batch status --json`` lists for the child."""
        out: dict[str, Any] = {"index": self.index, "id": self.task_id, "state": self.state}
        out.update(self.covers)
        if not self.sent:
            out["state"] = "UNSENT"
        if self.worker:
            out["worker"] = self.worker
        if self.result is not None:
            out["result"] = self.result
        if self.reason:
            out["reason"] = self.reason
        return out


class ChildStore:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.home() / "project_batches.db"
        # The history files' one rule (backend/sqlitefile.py): only a damaged file is set aside
        # (and announced); a full disk or a read-only home is an error that leaves it alone.
        _, self.message = open_checked(self.path, "Project batch children", self._create)

    def _create(self) -> None:
        conn = self._connect()
        try:
            with conn:
                conn.executescript(SCHEMA)
                conn.execute("SELECT count(*) FROM children").fetchone()
        finally:
            conn.close()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    def add(self, batch_id: str, children: Iterable[Child]) -> None:
        rows = [
            (
                batch_id,
                c.index,
                c.task_id,
                json.dumps({"args": c.args, "kwargs": c.kwargs}),
                json.dumps(c.covers),
                c.items,
            )
            for c in children
        ]
        with self._connect() as conn:
            conn.executemany(
                "INSERT INTO children (batch_id, idx, task_id, call, covers, items) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            _shift(conn, batch_id, [], [(0, "PENDING", r[5]) for r in rows])

    def drop(self, batch_id: str) -> None:
        """Forget a batch whose launch could not be recorded (one transaction)."""
        with self._connect() as conn:
            for table in ("children", "tally", "senders", "cancels"):
                conn.execute(f"DELETE FROM {table} WHERE batch_id=?", (batch_id,))

    def mark_sent(self, batch_id: str, indices: list[int], task_ids: dict[int, str]) -> None:
        """After the broker took them: these children are out (and under these ids)."""
        with self._connect() as conn:
            old = _old(conn, batch_id, indices)
            _shift(conn, batch_id, list(old.values()), [(1, "PENDING", o[2]) for o in old.values()])
            conn.executemany(
                "UPDATE children SET sent=1, state='PENDING', task_id=?, worker=NULL, "
                "result=NULL, reason=NULL, ended_at=NULL WHERE batch_id=? AND idx=?",
                [(task_ids[i], batch_id, i) for i in indices],
            )

    def update(self, batch_id: str, children: Iterable[Child]) -> None:
        children = list(children)
        with self._connect() as conn:
            old = _old(conn, batch_id, [c.index for c in children])
            new = [(old[c.index][0], c.state, old[c.index][2]) for c in children if c.index in old]
            _shift(conn, batch_id, [old[c.index] for c in children if c.index in old], new)
            conn.executemany(
                "UPDATE children SET state=?, worker=?, result=?, reason=?, seen_at=?, "
                "ended_at=? WHERE batch_id=? AND idx=?",
                [
                    (
                        c.state,
                        c.worker,
                        json.dumps(c.result) if c.result is not None else None,
                        c.reason,
                        c.seen_at,
                        c.ended_at,
                        batch_id,
                        c.index,
                    )
                    for c in children
                ],
            )

    def set_sender(self, batch_id: str, pid: int | None, create_time: float | None) -> None:
        """The process sending this batch's children now (None: sending is over)."""
        with self._connect() as conn:
            if pid is None:
                conn.execute("DELETE FROM senders WHERE batch_id=?", (batch_id,))
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO senders (batch_id, pid, create_time) VALUES (?, ?, ?)",
                    (batch_id, pid, create_time),
                )

    def request_cancel(self, batch_id: str, on: bool = True) -> None:
        """A cancel while the children are still being sent: the sender stops sending."""
        with self._connect() as conn:
            if on:
                conn.execute("INSERT OR IGNORE INTO cancels (batch_id) VALUES (?)", (batch_id,))
            else:
                conn.execute("DELETE FROM cancels WHERE batch_id=?", (batch_id,))

    def cancel_requested(self, batch_id: str) -> bool:
        with self._connect() as conn:
            row = conn.execute("SELECT 1 FROM cancels WHERE batch_id=?", (batch_id,)).fetchone()
        return row is not None

    def sender(self, batch_id: str) -> tuple[int, float | None] | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT pid, create_time FROM senders WHERE batch_id=?", (batch_id,)
            ).fetchone()
        return (int(row[0]), row[1]) if row else None

    def ping_missed(self, host: str, answered: bool, now: float) -> tuple[int, float]:
        """Pings a worker missed in a row (kept across CLI calls), and since when."""
        with self._connect() as conn:
            if answered:
                conn.execute("DELETE FROM pings WHERE host=?", (host,))
                return 0, now
            row = conn.execute(
                "SELECT missed, first_missed FROM pings WHERE host=?", (host,)
            ).fetchone()
            missed, since = (int(row[0]) + 1, float(row[1])) if row else (1, now)
            conn.execute(
                "INSERT OR REPLACE INTO pings (host, missed, first_missed) VALUES (?, ?, ?)",
                (host, missed, since),
            )
        return missed, since

    def front(self, batch_id: str, limit: int) -> list[Child]:
        """The open children with the lowest indices: a queue hands them out about in order,
        so these are the ones that may have ended since the last look."""
        return self._select(
            "WHERE batch_id=? AND sent=1 AND state IN ('PENDING', 'STARTED', 'REDELIVERED') "
            "ORDER BY idx LIMIT ?",
            (batch_id, limit),
        )

    def children(
        self, batch_id: str, where: str = "", args: tuple[Any, ...] = (), limit: int | None = None
    ) -> list[Child]:
        clause = "WHERE batch_id=?" + (f" AND {where}" if where else "") + " ORDER BY idx"
        if limit is not None:
            clause += f" LIMIT {int(limit)}"
        return self._select(clause, (batch_id, *args))

    def unsent(self, batch_id: str) -> list[Child]:
        return self.children(batch_id, "sent=0")

    def failed(self, batch_id: str, limit: int | None = None) -> list[Child]:
        return self.children(
            batch_id, "sent=1 AND state IN ('FAILURE', 'LOST', 'REVOKED')", limit=limit
        )

    def counts(self, batch_id: str) -> dict[str, int]:
        """Items by state, and children sent: read from the tally, O(states)."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT sent, state, children, items FROM tally WHERE batch_id=? AND children>0",
                (batch_id,),
            ).fetchall()
        out = {
            "total": 0,
            "pending": 0,
            "started": 0,
            "succeeded": 0,
            "failed": 0,
            "cancelled": 0,
            "unsent": 0,
            "children": 0,
            "children_sent": 0,
        }
        name = {
            "PENDING": "pending",
            "REDELIVERED": "pending",
            "STARTED": "started",
            "SUCCESS": "succeeded",
            "FAILURE": "failed",
            "LOST": "failed",
            "REVOKED": "cancelled",
        }
        for sent, state, n, items in rows:
            out["total"] += int(items)
            out["children"] += int(n)
            if not sent:
                out["unsent"] += int(items)
                continue
            out["children_sent"] += int(n)
            out[name.get(state, "pending")] += int(items)
        return out

    def _select(self, clause: str, args: tuple[Any, ...]) -> list[Child]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT idx, task_id, call, covers, items, sent, state, worker, result, reason, "
                f"seen_at, ended_at FROM children {clause}",
                args,
            ).fetchall()
        out = []
        for (
            idx,
            task_id,
            call,
            covers,
            items,
            sent,
            state,
            worker,
            result,
            reason,
            seen,
            ended,
        ) in rows:
            parsed = json.loads(call)
            out.append(
                Child(
                    index=int(idx),
                    task_id=task_id,
                    args=parsed["args"],
                    kwargs=parsed["kwargs"],
                    covers=json.loads(covers),
                    items=int(items),
                    sent=bool(sent),
                    state=state,
                    worker=worker,
                    result=json.loads(result) if result is not None else None,
                    reason=reason,
                    seen_at=seen,
                    ended_at=ended,
                )
            )
        return out


def _old(
    conn: sqlite3.Connection, batch_id: str, indices: list[int]
) -> dict[int, tuple[int, str, int]]:
    """Index → (sent, state, items) as stored now, for the tally's moves."""
    out: dict[int, tuple[int, str, int]] = {}
    for start in range(0, len(indices), 500):
        part = indices[start : start + 500]
        marks = ",".join("?" * len(part))
        for idx, sent, state, items in conn.execute(
            f"SELECT idx, sent, state, items FROM children WHERE batch_id=? AND idx IN ({marks})",
            (batch_id, *part),
        ):
            out[int(idx)] = (int(sent), str(state), int(items))
    return out


def _shift(
    conn: sqlite3.Connection,
    batch_id: str,
    before: list[tuple[int, str, int]],
    after: list[tuple[int, str, int]],
) -> None:
    """Move children (and their items) between (sent, state) cells, in the same transaction."""
    delta: dict[tuple[int, str], list[int]] = {}
    for sign, rows in ((-1, before), (1, after)):
        for sent, state, items in rows:
            cell = delta.setdefault((sent, state), [0, 0])
            cell[0] += sign
            cell[1] += sign * items
    conn.executemany(
        "INSERT INTO tally (batch_id, sent, state, children, items) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (batch_id, sent, state) DO UPDATE SET "
        "children = children + excluded.children, items = items + excluded.items",
        [(batch_id, k[0], k[1], v[0], v[1]) for k, v in delta.items() if v != [0, 0]],
    )
