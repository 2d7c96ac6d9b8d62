"""Reading the task history: filtered pages, one task, failure groups, per-name failure rates.

Every list is newest first and paged by key (``first_ts``, ``id``) rather than OFFSET, so page
500 of 100,000 rows costs what page 1 costs; each filter has an index (state, name, queue,
worker, failure group, time), and text search stops as soon as a page is full. Readers open
their own connection (WAL: they never block the recorder).
"""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pooldesk.backend.taskhistory.store import Gap, connect, default_path

PAGE = 200
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.I)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
STATES = ("PENDING", "RECEIVED", "STARTED", "RETRY", "SUCCESS", "FAILURE", "REVOKED", "REJECTED")


class QueryError(ValueError):
    """Bad filter input: one sentence for the user."""


def parse_since(text: str, now: float | None = None) -> float:
    """``90s``, ``15m``, ``1h``, ``2d``, ``1w`` ago, or an ISO date/time → Unix seconds."""
    now = time.time() if now is None else now
    match = _DURATION.match(text)
    if match:
        return now - float(match.group(1)) * _UNIT_S[match.group(2).lower()]
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise QueryError(
            f"--since {text!r}: give a duration like 30m, 1h, 2d or a date like 2026-11-30T09:00"
        ) from None


@dataclass
class Filter:
    states: tuple[str, ...] = ()
    name: str | None = None  # substring, case-insensitive
    queue: str | None = None
    worker: str | None = None  # NAME or NAME@host
    since: float | None = None
    until: float | None = None
    search: str | None = None  # in id, args, kwargs, result, exception
    exc_group: str | None = None
    broker: str | None = None

    def validate(self) -> None:
        bad = [s for s in self.states if s not in STATES]
        if bad:
            raise QueryError(f"--state {bad[0]}: choose from {', '.join(STATES)}")
        if self.search is not None and len(self.search) > 500:
            raise QueryError("--search: at most 500 characters")

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if self.states:
            clauses.append(f"state IN ({', '.join('?' for _ in self.states)})")
            params += list(self.states)
        if self.name:
            clauses.append("name LIKE ? ESCAPE '\\'")
            params.append(f"%{_escape(self.name)}%")
        if self.queue:
            clauses.append("queue = ?")
            params.append(self.queue)
        if self.worker:
            if "@" in self.worker:
                clauses.append("worker = ?")
                params.append(self.worker)
            else:
                clauses.append("worker LIKE ? ESCAPE '\\'")
                params.append(f"{_escape(self.worker)}@%")
        if self.since is not None:
            clauses.append("first_ts >= ?")
            params.append(self.since)
        if self.until is not None:
            clauses.append("first_ts < ?")
            params.append(self.until)
        if self.exc_group:
            clauses.append("exc_group = ?")
            params.append(self.exc_group)
        if self.broker:
            clauses.append("broker = ?")
            params.append(self.broker)
        if self.search:
            pattern = f"%{_escape(self.search)}%"
            clauses.append(
                "(id LIKE ? ESCAPE '\\' OR args LIKE ? ESCAPE '\\' OR kwargs LIKE ? ESCAPE '\\' "
                "OR result LIKE ? ESCAPE '\\' OR exception LIKE ? ESCAPE '\\')"
            )
            params += [pattern] * 5
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


LIST_COLUMNS = (
    "id, name, queue, worker, state, first_ts, sent_ts, received_ts, started_ts, ended_ts, "
    "runtime, retries, args, kwargs, args_hidden, result, exception, exc_type, exc_group, "
    "root_id, parent_id, group_id, batch, note, broker"
)


@dataclass
class TaskRow:
    data: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.data["id"])

    def __getitem__(self, key: str) -> Any:
        return self.data.get(key)

    @property
    def wait(self) -> float | None:
        start = self.data.get("started_ts")
        queued = self.data.get("sent_ts") or self.data.get("received_ts")
        return round(start - queued, 6) if start and queued else None

    @property
    def runtime(self) -> float | None:
        if self.data.get("runtime") is not None:
            return float(self.data["runtime"])
        start, end = self.data.get("started_ts"), self.data.get("ended_ts")
        return round(end - start, 6) if start and end else None

    def to_dict(self, full: bool = False) -> dict[str, Any]:
        d = self.data
        out = {
            "id": d["id"],
            "name": d.get("name"),
            "state": d.get("state"),
            "queue": d.get("queue"),
            "worker": d.get("worker"),
            "sent_at": d.get("sent_ts"),
            "received_at": d.get("received_ts"),
            "started_at": d.get("started_ts"),
            "ended_at": d.get("ended_ts"),
            "runtime": self.runtime,
            "wait": self.wait,
            "retries": d.get("retries") or 0,
            "args": d.get("args"),
            "kwargs": d.get("kwargs"),
            "args_hidden": bool(d.get("args_hidden")),
            "result": d.get("result"),
            "exception": d.get("exception"),
            "exception_type": d.get("exc_type"),
            "failure_group": d.get("exc_group"),
            "root_id": d.get("root_id"),
            "parent_id": d.get("parent_id"),
            "group_id": d.get("group_id"),
            "batch": d.get("batch"),
            "note": d.get("note"),
        }
        if full:
            out["traceback"] = d.get("traceback")
        return out


@dataclass
class FailureGroup:
    group: str
    exc_type: str | None
    count: int
    first_seen: float
    last_seen: float
    names: list[str] = field(default_factory=list)
    latest_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class TaskQuery:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self._conn: sqlite3.Connection | None = None

    @property
    def exists(self) -> bool:
        return self.path.exists()

    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = connect(self.path, readonly=True)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def page(
        self, flt: Filter, limit: int = PAGE, after: tuple[float, str] | None = None
    ) -> list[TaskRow]:
        """Newest first; ``after`` = (first_ts, id) of the last row of the previous page."""
        if not self.exists:
            return []
        where, params = flt.where()
        if after is not None:
            where += (" AND " if where else " WHERE ") + "(first_ts, id) < (?, ?)"
            params += list(after)
        sql = f"SELECT {LIST_COLUMNS} FROM tasks{where} ORDER BY first_ts DESC, id DESC LIMIT ?"
        rows = self.conn().execute(sql, [*params, limit]).fetchall()
        return [TaskRow(dict(r)) for r in rows]

    def count(self, flt: Filter) -> int:
        if not self.exists:
            return 0
        where, params = flt.where()
        return int(self.conn().execute(f"SELECT count(*) FROM tasks{where}", params).fetchone()[0])

    def get(self, task_id: str) -> list[TaskRow]:
        """The task with this id, or every task whose id starts with it (at most 2)."""
        if not self.exists or not task_id.strip():
            return []
        conn = self.conn()
        row = conn.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        if row is not None:
            return [TaskRow(dict(row))]
        rows = conn.execute(
            "SELECT * FROM tasks WHERE id LIKE ? ESCAPE '\\' LIMIT 2", (_escape(task_id) + "%",)
        ).fetchall()
        return [TaskRow(dict(r)) for r in rows]

    def failures(self, since: float | None = None, limit: int = 100) -> list[FailureGroup]:
        if not self.exists:
            return []
        params: list[Any] = []
        where = "WHERE state = 'FAILURE' AND exc_group IS NOT NULL"
        if since is not None:
            where += " AND first_ts >= ?"
            params.append(since)
        rows = (
            self.conn()
            .execute(
                "SELECT exc_group, max(exc_type), count(*), min(first_ts), max(first_ts), "
                f"group_concat(DISTINCT name) FROM tasks {where} GROUP BY exc_group "
                "ORDER BY count(*) DESC LIMIT ?",
                [*params, limit],
            )
            .fetchall()
        )
        out = []
        for group, exc_type, count, first, last, names in rows:
            latest = (
                self.conn()
                .execute(
                    "SELECT id FROM tasks WHERE exc_group = ? AND state = 'FAILURE' "
                    "ORDER BY first_ts DESC LIMIT 1",
                    (group,),
                )
                .fetchone()
            )
            out.append(
                FailureGroup(
                    group,
                    exc_type,
                    int(count),
                    float(first),
                    float(last),
                    sorted(filter(None, (names or "").split(","))),
                    latest[0] if latest else "",
                )
            )
        return out

    def group_ids(self, group: str, limit: int = 10_000) -> list[str]:
        rows = (
            self.conn()
            .execute(
                "SELECT id FROM tasks WHERE exc_group = ? AND state = 'FAILURE' "
                "ORDER BY first_ts LIMIT ?",
                (group, limit),
            )
            .fetchall()
        )
        return [r[0] for r in rows]

    def failure_rates(self, since: float | None = None) -> dict[str, tuple[int, int]]:
        """Per task name: (finished, failed) — the page's failure-rate column."""
        if not self.exists:
            return {}
        sql = "SELECT name, sum(rank = 4), sum(state = 'FAILURE') FROM tasks WHERE name IS NOT NULL"
        params: list[Any] = []
        if since is not None:
            sql += " AND first_ts >= ?"
            params.append(since)
        rows = self.conn().execute(sql + " GROUP BY name", params).fetchall()
        return {name: (int(done or 0), int(failed or 0)) for name, done, failed in rows}

    def distinct(self, column: str, limit: int = 200) -> list[str]:
        """Values for the page's filter boxes (queue, worker, name)."""
        if column not in ("queue", "worker", "name") or not self.exists:
            return []
        rows = (
            self.conn()
            .execute(
                f"SELECT DISTINCT {column} FROM tasks WHERE {column} IS NOT NULL "
                f"ORDER BY {column} LIMIT ?",
                (limit,),
            )
            .fetchall()
        )
        return [r[0] for r in rows]

    def gaps(self, since: float | None = None) -> list[Gap]:
        if not self.exists:
            return []
        rows = (
            self.conn()
            .execute(
                "SELECT broker, start_ts, end_ts, reason FROM gaps WHERE end_ts >= ? "
                "ORDER BY start_ts",
                (since or 0.0,),
            )
            .fetchall()
        )
        return [Gap(r[0], float(r[1]), float(r[2]), r[3]) for r in rows]
