"""``pooldesk tasks list|show|retry|failures``: the recorded task history (``tasks.db``)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from pooldesk.backend.broker import BrokerError
from pooldesk.backend.cli.output import emit_json, fail, table
from pooldesk.backend.taskhistory.actions import TaskActions
from pooldesk.backend.taskhistory.query import Filter, QueryError, TaskQuery, TaskRow, parse_since
from pooldesk.backend.taskhistory.retry import RetryError, rebuild
from pooldesk.backend.taskhistory.store import TaskStore
from pooldesk.backend.units import plural


def _open() -> TaskQuery:
    """Repairs a corrupt file (kept aside; the message is said as the command ends, by
    ``cli.main``) before anything reads it."""
    if TaskQuery().exists:
        TaskStore().close()
    return TaskQuery()


def _when(ts: float | None) -> str:
    return time.strftime("%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _secs(value: float | None) -> str:
    return f"{value:.3f}s" if value is not None else "-"


def _note_gaps(query: TaskQuery, since: float | None) -> None:
    from pooldesk.backend.taskhistory.service import recorders

    if not any(r.running for r in recorders()):
        print(
            "pooldesk: note: no task recorder is running now; tasks are recorded while a "
            "Pooldesk worker runs or the window is open",
            file=sys.stderr,
        )
    gaps = query.gaps(since if since is not None else time.time() - 86400)
    if gaps:
        last = gaps[-1]
        print(
            f"pooldesk: note: {plural(len(gaps), 'period')} not recorded; the last from "
            f"{_when(last.start_ts)} to {_when(last.end_ts)} ({last.reason})",
            file=sys.stderr,
        )


def list_tasks(args: argparse.Namespace) -> int:
    try:
        since = parse_since(args.since) if args.since else None
        states = tuple(s.strip().upper() for s in (args.state or "").split(",") if s.strip())
        flt = Filter(
            states=states,
            name=args.name,
            queue=args.queue,
            worker=args.worker,
            since=since,
            search=args.search,
        )
        flt.validate()
    except QueryError as exc:
        return fail(str(exc), code=2)
    query = _open()
    rows = query.page(flt, limit=args.limit)
    _note_gaps(query, since)
    if args.json:
        emit_json([r.to_dict() for r in rows])
        return 0
    if not rows:
        print("no recorded task matches")
        return 0
    print(
        table(
            ["id", "state", "name", "queue", "worker", "started", "runtime", "exception"],
            [
                [
                    r.id,
                    r["state"] or "-",
                    r["name"] or "-",
                    r["queue"] or "-",
                    r["worker"] or "-",
                    _when(r["started_ts"] or r["first_ts"]),
                    _secs(r.runtime),
                    (r["exception"] or "")[:60],
                ]
                for r in rows
            ],
        )
    )
    return 0


def _detail(row: TaskRow) -> dict[str, Any]:
    data = row.to_dict(full=True)
    rebuilt = rebuild(row)
    data["retry"] = {"as_recorded": rebuilt.exact, "reason": rebuilt.reason}
    return data


def show(args: argparse.Namespace) -> int:
    actions = TaskActions(_open())
    try:
        row = actions.find(args.id)
    except RetryError as exc:
        return fail(str(exc), code=2)
    data = _detail(row)
    if args.json:
        emit_json(data)
        return 0
    for key in (
        "id",
        "name",
        "state",
        "queue",
        "worker",
        "batch",
        "root_id",
        "parent_id",
        "retries",
        "args",
        "kwargs",
        "result",
        "exception",
        "failure_group",
        "note",
    ):
        if data.get(key) not in (None, ""):
            print(f"{key:>14}: {data[key]}")
    for key in ("sent_at", "received_at", "started_at", "ended_at"):
        if data.get(key):
            print(f"{key:>14}: {_when(data[key])}")
    print(f"{'wait':>14}: {_secs(data['wait'])}   runtime: {_secs(data['runtime'])}")
    if data["args_hidden"]:
        print(f"{'arguments':>14}: hidden (task_history_hide_args)")
    retry = data["retry"]
    print(
        f"{'retry':>14}: "
        + (
            "as recorded"
            if retry["as_recorded"]
            else f"only with --args/--kwargs: {retry['reason']}"
        )
    )
    if data.get("traceback"):
        print("\n" + data["traceback"].rstrip())
    return 0


def retry(args: argparse.Namespace) -> int:
    actions = TaskActions(_open())
    try:
        # unknown ids, bad JSON and arguments that cannot be rebuilt are refused before the
        # broker is even contacted: nothing is sent
        sent = actions.retry(args.id, args.args, args.kwargs, args.queue)
    except RetryError as exc:
        return fail(str(exc), code=2)
    except BrokerError as exc:
        return fail(str(exc), code=1)
    except Exception as exc:  # the broker refused or is unreachable
        return fail(f"could not send: {type(exc).__name__}: {exc}", code=1)
    finally:
        actions.close()
    if args.json:
        emit_json(sent.to_dict())
    else:
        print(f"sent {sent.plan.describe()} as task {sent.id}")
    return 0


def failures(args: argparse.Namespace) -> int:
    try:
        since = parse_since(args.since) if args.since else None
    except QueryError as exc:
        return fail(str(exc), code=2)
    query = _open()
    groups = query.failures(since)
    _note_gaps(query, since)
    if args.json:
        emit_json([g.to_dict() for g in groups])
        return 0
    if not groups:
        print("no recorded failure")
        return 0
    print(
        table(
            ["count", "failure", "tasks", "first seen", "last seen", "latest id"],
            [
                [
                    str(g.count),
                    g.group[:70],
                    ",".join(g.names)[:40],
                    _when(g.first_seen),
                    _when(g.last_seen),
                    g.latest_id,
                ]
                for g in groups
            ],
        )
    )
    return 0
