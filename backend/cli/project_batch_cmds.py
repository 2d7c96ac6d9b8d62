"""``pooldesk batch run``: a project's own task as a batch (status/cancel/retry are shared)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pooldesk.backend.batches.history import BatchRecord
from pooldesk.backend.batches.items import ItemError, Items, parse_range, read_items
from pooldesk.backend.batches.project_plan import Plan, make_plan
from pooldesk.backend.batches.project_target import TargetError
from pooldesk.backend.batches.service import BatchError, BatchService
from pooldesk.backend.cli.output import emit_json, fail


def read_source(args: argparse.Namespace) -> Items:
    if args.range is not None:
        if args.kwargs:
            raise ItemError("--kwargs applies to a .csv file, not to --range")
        return parse_range(args.range)
    return read_items(args.items, kwargs=args.kwargs)


def print_plan(plan: Plan) -> None:
    t = plan.target
    per = f"chunks of {plan.chunk_size}" if plan.chunk_size else "one call per item"
    print(f"task      {t.task}  (project {t.project})")
    print(f"queue     {t.queue}")
    print(f"items     {len(plan.items)} from {plan.items.source}")
    print(f"children  {plan.children} ({per})")
    if plan.consumers:
        for c in plan.consumers:
            print(f"consumer  {c.name}  {c.pool} × {c.concurrency}")
    else:
        print("consumer  none")
    rows = plan.forecast.get("forecast") or []
    for row in rows:
        mark = "here" if row.get("current") else "on"
        print(
            f"forecast  ≈ {_duration(row.get('seconds'))} {mark} {row.get('pool')} × "
            f"{row.get('concurrency')}  ({row.get('basis')})"
        )
    if not rows:
        print(f"forecast  none: {plan.forecast.get('forecast_reason') or 'not available'}")


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "?"
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def run(args: argparse.Namespace) -> int:
    from pooldesk.backend.cli.batch_cmds import follow, interrupted, print_record

    try:
        if args.chunk_size is not None and args.chunk_size < 1:
            raise ItemError(f"--chunk-size {args.chunk_size}: must be 1 or more")
        items = read_source(args)
        plan = make_plan(args.project, args.task, items, args.chunk_size, args.queue)
    except (ItemError, TargetError) as exc:
        return fail(str(exc), code=2)
    if plan.warning:
        print(f"pooldesk: warning: {plan.warning}", file=sys.stderr)
    if args.dry_run:
        if args.json:
            emit_json(plan.to_dict())
        else:
            print_plan(plan)
        return 0
    service = BatchService()

    def announce(record: BatchRecord) -> None:
        if not args.json:
            print(f"batch {record.id}: sending {plan.children} children…", file=sys.stderr)

    try:
        record = service.projects.launch(plan, on_record=announce)
        if record.error:
            print(f"pooldesk: {record.error}", file=sys.stderr)
        if not args.wait:
            if args.json:
                emit_json(record.to_dict())
            else:
                print(
                    f"batch {record.id} launched ({plan.target.task}, {plan.children} children); "
                    f"follow it with: pooldesk batch status {record.id[:12]}"
                )
            return 0 if not record.error else 1
        try:
            record = follow(service, record.id, quiet=args.json)
        except KeyboardInterrupt:
            return interrupted(record)
    except BatchError as exc:
        return fail(str(exc))
    finally:
        service.close()
    if args.json:
        emit_json(record.to_dict())
    else:
        print_record(record)
    return 0 if record.state == "completed" else 1
