"""``pooldesk batch invoices|monitor|status|list|cancel|retry`` and ``pooldesk demo seed``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from typing import Any

from tqdm import tqdm

from pooldesk.backend.batches.history import BatchRecord
from pooldesk.backend.batches.params import InvoiceParams, MonitorParams, ParamError
from pooldesk.backend.batches.service import BatchError, BatchService
from pooldesk.backend.broker import BrokerError, current_config
from pooldesk.backend.broker.status import broker_status
from pooldesk.backend.cli.output import emit_json, fail, table
from pooldesk.backend.invoices.billing import recent_periods
from pooldesk.backend.monitoring.urls import UrlListError, parse_url_list, read_url_list
from pooldesk.backend.units import plural


def _broker_down() -> str | None:
    config = current_config()
    if config.managed:
        return None
    status = broker_status(config, queues=())
    return None if status.up else status.error


def _service() -> BatchService:
    return BatchService()


def _done(service: BatchService, record: BatchRecord, args: argparse.Namespace) -> int:
    """Print the launch (or follow it with --wait); exit 1 if any child failed."""
    if not args.wait:
        if args.json:
            emit_json(record.to_dict())
        else:
            print(
                f"batch {record.id} launched ({record.kind}); "
                f"follow it with: pooldesk batch status {record.id[:12]}"
            )
        return 0
    try:
        record = follow(service, record.id, quiet=args.json)
    except KeyboardInterrupt:
        return interrupted(record)
    if args.json:
        emit_json(record.to_dict())
    else:
        print_record(record)
    return 0 if record.state == "completed" else 1


def interrupted(record: BatchRecord) -> int:
    """Ctrl-C while following: the batch runs on in the workers; say how to find it again."""
    print(
        f"\nbatch {record.id} keeps running in the workers; "
        f"follow it with: pooldesk batch status {record.id[:12]}",
        file=sys.stderr,
    )
    return 130


def follow(service: BatchService, batch_id: str, quiet: bool = False) -> BatchRecord:
    """Follow a batch until it ends; Ctrl-C raises ``KeyboardInterrupt`` for the caller to say
    the batch id. Ctrl-C also sets a flag the wait loop checks on every poll: a library call
    that swallows the interrupt (met once in a loaded CI run: the follow went on after
    SIGINT) cannot keep the command running."""
    stop = threading.Event()

    def on_sigint(_signum: int, _frame: object) -> None:
        stop.set()
        raise KeyboardInterrupt

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT)
    if in_main:
        signal.signal(signal.SIGINT, on_sigint)
    bar = None if quiet else tqdm(total=0, unit="child", file=sys.stderr, dynamic_ncols=True)
    try:
        record = service.get(batch_id)
        for record in service.wait(batch_id, stop=stop.is_set):
            if bar is not None:
                counts = record.counts
                bar.total = counts.get("total", 0)
                bar.n = (
                    counts.get("succeeded", 0)
                    + counts.get("failed", 0)
                    + counts.get("cancelled", 0)
                )
                bar.set_postfix_str(f"{record.state} · failed {counts.get('failed', 0)}")
                bar.refresh()
        if stop.is_set():
            raise KeyboardInterrupt
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)
        if bar is not None:
            bar.close()
    return record


def print_record(record: BatchRecord, children: list[dict[str, Any]] | None = None) -> None:
    c = record.counts
    print(f"batch     {record.id}")
    print(f"kind      {record.kind}  {_params(record)}")
    print(f"state     {record.state}")
    if c:
        print(
            f"children  {c.get('total', 0)} total: {c.get('succeeded', 0)} ok, "
            f"{c.get('failed', 0)} failed, {c.get('cancelled', 0)} cancelled, "
            f"{c.get('started', 0)} running, {c.get('pending', 0)} pending"
        )
    if record.started_at:
        end = record.finished_at or time.time()
        print(f"elapsed   {end - record.started_at:.1f} s")
    summary = record.summary or {}
    if "invoices_created" in summary:
        print(
            f"invoices  {summary['invoices_created']} created, "
            f"{summary['invoices_skipped']} already there"
            + (
                f", {summary['seconds_per_invoice'] * 1000:.1f} ms each"
                if summary.get("seconds_per_invoice")
                else ""
            )
        )
    if "urls_up" in summary:
        print(f"urls      {summary['urls_up']} up, {summary['urls_down']} down")
    if record.error:
        print(f"error     {record.error}")
    for failed in summary.get("failed_children", [])[:20]:
        where = f" {failed['url']}" if failed.get("url") else ""
        print(f"  failed child {failed['index']}{where}: {failed['reason']}")
    for child in children or []:
        if record.kind == "project":
            covers = child.get("range") or child.get("items")
            print(
                f"  child {child['index']:>4} {child['state']:<11} items {covers} "
                f"{child.get('reason') or ''}".rstrip()
            )
            continue
        result = child.get("result") or {}
        detail = child.get("url") or result.get("url") or f"{result.get('customers', '')} customers"
        print(
            f"  child {child['index']:>4} {child['state']:<8} {detail} "
            f"{child.get('reason') or ''}".rstrip()
        )


def _params(record: BatchRecord) -> str:
    return " ".join(f"{k}={v}" for k, v in record.params.items() if v is not None)


def invoices(args: argparse.Namespace) -> int:
    try:
        params = InvoiceParams(
            period=args.period or recent_periods(1)[0],
            customers=None if args.all else args.customers,
            chunk_size=args.chunk_size,
            queue=args.queue,
        ).validate()
    except ParamError as exc:
        return fail(str(exc), code=2)
    return _launch(lambda s: s.launch_invoices(params), args)


def monitor(args: argparse.Namespace) -> int:
    try:
        if args.urls:
            urls = read_url_list(args.urls).urls
        else:
            urls = parse_url_list("\n".join(args.url)).urls
        params = MonitorParams(
            urls=tuple(urls),
            timeout=args.timeout,
            queue=args.queue,
            urls_per_task=args.urls_per_task,
        ).validate()
    except (UrlListError, ParamError) as exc:
        return fail(str(exc).replace("\n", " | "), code=2)
    return _launch(lambda s: s.launch_monitoring(params), args)


def _launch(send: Any, args: argparse.Namespace) -> int:
    down = _broker_down()
    if down:
        return fail(down)
    service = _service()
    try:
        record = send(service)
        return _done(service, record, args)
    except (BrokerError, BatchError) as exc:
        return fail(str(exc))
    finally:
        service.close()


def status(args: argparse.Namespace) -> int:
    service = _service()
    try:
        record = service.settle(service.get(args.id))  # counts and rows from one reading
        children = service.children(record)
    except BatchError as exc:
        return fail(str(exc))
    finally:
        service.close()
    if args.json:
        emit_json(
            {
                **record.to_dict(with_summary=False),
                "summary": _lean(record.summary),
                "children": [{k: v for k, v in c.items() if k != "args"} for c in children],
            }
        )
    else:
        print_record(record, children if args.children else None)
    return 0


def _lean(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    return {k: v for k, v in summary.items() if k != "children"} if summary else None


def list_batches(args: argparse.Namespace) -> int:
    service = _service()
    try:
        records = service.list(limit=args.limit)
    finally:
        service.close()
    if args.json:
        emit_json([r.to_dict(with_summary=False) for r in records])
        return 0
    if not records:
        print("no batches yet (launch one: pooldesk batch invoices --customers 100)")
        return 0
    rows = []
    for r in records:
        c = r.counts
        done = c.get("succeeded", 0) + c.get("failed", 0) + c.get("cancelled", 0)
        rows.append(
            [
                r.id[:12],
                _kind(r),
                r.state,
                f"{done}/{c.get('total', '?')}",
                str(c.get("failed", 0)),
                time.strftime("%F %T", time.localtime(r.created_at)),
            ]
        )
    print(table(["ID", "KIND", "STATE", "DONE", "FAILED", "CREATED"], rows))
    return 0


def _kind(record: BatchRecord) -> str:
    """A project batch shows its project and task: ``project ledger/ledgerq.tasks.post``."""
    if record.kind != "project":
        return record.kind
    return f"project {record.params.get('project')}/{record.params.get('task')}"


def cancel(args: argparse.Namespace) -> int:
    service = _service()
    try:
        batch_id = service.get(args.id).id  # the whole id for --json, not the prefix typed
        counts = service.cancel(batch_id, terminate=args.terminate)
    except BatchError as exc:
        return fail(str(exc))
    finally:
        service.close()
    if args.json:
        emit_json({"id": batch_id, "terminate": args.terminate, **counts})
        return 0
    if counts.get("ended"):
        print(
            f"nothing left to cancel: every child of batch {batch_id[:12]} had ended; "
            f"it is now {counts['state']}"
        )
        return 0
    running = "terminated" if args.terminate else "left to finish"
    print(
        f"cancel sent: {counts['pending']} pending children revoked, "
        f"{counts['running']} running {running}"
    )
    return 0


def retry(args: argparse.Namespace) -> int:
    service = _service()
    try:
        record = service.retry(args.id)
        return _done(service, record, args)
    except BatchError as exc:
        return fail(str(exc))
    finally:
        service.close()


def seed(args: argparse.Namespace) -> int:
    from pooldesk.backend.invoices.db import invoice_db_url, make_engine
    from pooldesk.backend.invoices.seed import seed as run_seed

    try:
        periods = [p.strip() for p in args.periods.split(",")] if args.periods else None
        result = run_seed(make_engine(), args.customers, seed=args.seed, periods=periods)
    except ValueError as exc:
        return fail(str(exc), code=2)
    if args.json:
        emit_json(result.to_dict())
    else:
        print(
            f"{plural(result.customers_created, 'customer')} added "
            f"({result.customers_total} in all), "
            f"{result.usage_lines_created} usage lines for {', '.join(result.periods)} "
            f"in {invoice_db_url().split('@')[-1]}"
        )
    return 0
