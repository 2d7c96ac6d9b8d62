"""What the audit measures: task history per task and queue, and the workers that run an app.

Task history (``tasks.db``) holds one row per task id from the workers' own events, so runtimes,
the wait inside a worker (received → started), how far ahead an ETA was set, and an id that
started twice without a retry (``started_first_ts`` before ``started_ts``: delivered again) come
from there. The workers come from Pooldesk's worker records (the options each was started with)
and, where the caller has live observations, their measured memory growth.
"""

from __future__ import annotations

import contextlib
import sqlite3
import statistics
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pooldesk.backend.audit.model import GroupSpan, Measurements, TaskStats, WorkerView
from pooldesk.backend.taskhistory.query import TaskQuery
from pooldesk.backend.workers.spec import WorkerSpec

SINCE_S = 7 * 86400.0  # a week of history: long enough for a nightly batch
MAX_ROWS = 50_000  # newest rows read; bounded whatever the file holds
TWICE_GAP_S = 0.5  # two task-started events this far apart are two deliveries, not a repeat
_COLS = (
    "id, name, queue, state, sent_ts, received_ts, started_ts, ended_ts, runtime, eta, "
    "retries, batch, root_id, parent_id, first_ts"
)


def eta_seconds(eta: Any) -> float | None:
    """An event's ``eta`` (ISO 8601 text) as a Unix time; None for anything else."""
    if not isinstance(eta, str) or not eta:
        return None
    try:
        stamp = datetime.fromisoformat(eta.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp.timestamp() if stamp.tzinfo else None


def from_history(
    names: Iterable[str] | None = None,
    query: TaskQuery | None = None,
    now: float | None = None,
    since_s: float = SINCE_S,
    routes: dict[str, str] | None = None,
) -> Measurements:
    """Measurements for the given task names (all tasks if None) over the last ``since_s``;
    ``routes`` (task → queue, from the app) fills in a row's queue when no task-sent event
    brought it (clients send none unless ``task_send_sent_event`` is on)."""
    query = query or TaskQuery()
    if not query.exists:
        return Measurements()
    now = time.time() if now is None else now
    wanted = set(names) if names is not None else None
    try:
        conn = query.conn()
        have = {row[1] for row in conn.execute("PRAGMA table_info(tasks)")}
        twice = "started_first_ts" if "started_first_ts" in have else "NULL"
        rows = conn.execute(
            f"SELECT {_COLS}, {twice} AS started_first_ts FROM tasks WHERE first_ts >= ? "
            "ORDER BY first_ts DESC LIMIT ?",
            (now - since_s, MAX_ROWS),
        ).fetchall()
    except sqlite3.Error:
        return Measurements()
    picked = [dict(r) for r in rows if wanted is None or r["name"] in wanted]
    for row in picked:
        if not row.get("queue") and routes:
            row["queue"] = routes.get(str(row.get("name")))
    return fold(picked, now)


def fold(rows: list[dict[str, Any]], now: float) -> Measurements:
    """Rows of task history → per (task, queue) statistics and the longest groups."""
    runs: dict[tuple[str, str], list[float]] = defaultdict(list)
    waits: dict[tuple[str, str], float] = defaultdict(float)
    etas: dict[tuple[str, str], float] = defaultdict(float)
    twice: dict[tuple[str, str], int] = defaultdict(int)
    waiting: dict[tuple[str, str], int] = defaultdict(int)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if not row.get("name"):
            continue
        key = (str(row["name"]), str(row.get("queue") or "?"))
        runtime = row.get("runtime")
        if runtime is None and row.get("ended_ts") and row.get("started_ts"):
            runtime = row["ended_ts"] - row["started_ts"]
        if isinstance(runtime, int | float) and runtime >= 0:
            runs[key].append(float(runtime))
        else:
            runs.setdefault(key, [])
        if row.get("started_ts") and row.get("received_ts"):
            waits[key] = max(waits[key], row["started_ts"] - row["received_ts"])
        eta = eta_seconds(row.get("eta"))
        sent = row.get("sent_ts") or row.get("received_ts") or row.get("first_ts")
        if eta is not None and sent:
            etas[key] = max(etas[key], eta - sent)
            if row.get("state") == "RECEIVED" and eta > now:
                waiting[key] += 1
        first = row.get("started_first_ts")
        started = row.get("started_ts")
        # A retry starts the id again, and so does ``Task.replace`` (Pooldesk's batch watcher
        # replaces itself every round): its message is sent by the task itself, so its
        # parent is its own id. Neither is a redelivery.
        replaced = row.get("parent_id") == row.get("id")
        again = bool(first and started and started - first >= TWICE_GAP_S)
        if again and not row.get("retries") and not replaced:
            twice[key] += 1
        group = row.get("batch") or (
            row.get("root_id") if row.get("root_id") != row["id"] else None
        )
        if group:
            groups[str(group)].append(row)
    tasks = []
    for key, times in runs.items():
        if not times and not waiting[key]:
            continue
        tasks.append(
            TaskStats(
                task=key[0],
                queue=key[1],
                runs=len(times),
                median_s=statistics.median(times) if times else 0.0,
                max_s=max(times, default=0.0),
                max_wait_s=max(waits[key], 0.0),
                max_eta_s=max(etas[key], 0.0),
                started_twice=twice[key],
                eta_waiting=waiting[key],
            )
        )
    return Measurements(sorted(tasks, key=lambda t: (t.task, t.queue)), _spans(groups))


SENT_TOGETHER = 0.5  # a group's members were sent within this share of its span


def _spans(groups: dict[str, list[dict[str, Any]]]) -> list[GroupSpan]:
    """Groups whose results must outlive their span: a Pooldesk batch, or tasks sharing a root
    that were *sent together* (a group or chord: the first results wait for the last). Tasks
    sharing a root but sent one after another over the span (a task that schedules its
    successor, retries) need no early result kept, so they are not a group here."""
    out = []
    for group, members in groups.items():
        ends = [m["ended_ts"] for m in members if m.get("ended_ts")]
        starts = [float(s) for m in members if (s := m.get("sent_ts") or m.get("first_ts"))]
        if len(members) < 2 or not ends or not starts:
            continue
        span = max(ends) - min(starts)
        is_batch = any(m.get("batch") for m in members)
        if not is_batch and max(starts) - min(starts) > SENT_TOGETHER * span:
            continue
        out.append(GroupSpan(group, len(members), span))
    return sorted(out, key=lambda g: -g.span_s)[:20]


def prefetch_option(extra_args: Iterable[str]) -> Any:
    """``--prefetch-multiplier N`` (or ``=N``) among a worker's pass-through options."""
    args = list(extra_args)
    for i, arg in enumerate(args):
        if arg.startswith("--prefetch-multiplier="):
            return _int_or_text(arg.partition("=")[2])
        if arg == "--prefetch-multiplier" and i + 1 < len(args):
            return _int_or_text(args[i + 1])
    return None


def _int_or_text(text: str) -> Any:
    with contextlib.suppress(ValueError):
        return int(text)
    return text


def ran_by(
    hostname: str, since_s: float, query: TaskQuery | None = None, now: float | None = None
) -> tuple[tuple[str, str, int], ...]:
    """(task, queue, runs) a worker (its Celery node name) finished over the last ``since_s``,
    the most runs first: which task its memory grew with."""
    query = query or TaskQuery()
    if not query.exists:
        return ()
    now = time.time() if now is None else now
    sql = (
        "SELECT name, COALESCE(queue, '?'), COUNT(*) AS runs FROM tasks "
        "WHERE worker = ? AND first_ts >= ? AND ended_ts IS NOT NULL AND name IS NOT NULL "
        "GROUP BY name, queue ORDER BY runs DESC, name LIMIT 5"
    )
    try:
        rows = query.conn().execute(sql, (hostname, now - since_s)).fetchall()
    except sqlite3.Error:
        return ()
    return tuple((str(r[0]), str(r[1]), int(r[2])) for r in rows)


def worker_view(
    spec: WorkerSpec, growth: float | None = None, ran: tuple[tuple[str, str, int], ...] = ()
) -> WorkerView:
    return WorkerView(
        name=spec.name,
        pool=spec.pool,
        concurrency=spec.concurrency,
        queues=tuple(spec.queues),
        autoscale=(spec.autoscale[0], spec.autoscale[1]) if spec.autoscale else None,
        prefetch_multiplier=prefetch_option(spec.extra_args),
        max_tasks_per_child=spec.max_tasks_per_child,
        max_memory_per_child=spec.max_memory_per_child,
        time_limit=spec.time_limit,
        soft_time_limit=spec.soft_time_limit,
        uss_growth_bytes_per_min=growth,
        ran=ran,
    )


def project_workers(
    project: str, growth: dict[str, float] | None = None, window_s: float = 600.0
) -> list[WorkerView]:
    """The workers Pooldesk runs for ``project`` now, from their records: a stopped or crashed
    worker's options no longer run anything, so they are not judged. A worker whose memory
    growth was measured also gets what it ran over the last ``window_s``."""
    from pooldesk.backend import proc
    from pooldesk.backend.workers.records import RecordStore

    store = RecordStore()
    out = []
    for name in store.names():
        with contextlib.suppress(Exception):  # a damaged record is the worker list's to report
            record = store.load(name)
            pid = store.pid_info(name)
            if record is None or pid is None or not proc.alive(pid.celery_pid, pid.create_time):
                continue
            owner = record.spec.project or "demo"
            if owner == project:
                grew = (growth or {}).get(name)
                ran = ran_by(record.hostname, window_s) if grew is not None else ()
                out.append(worker_view(record.spec, grew, ran))
    return out
