"""The argument grammar. Bad flags: one clear line on stderr, exit code 2, nothing started."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from pooldesk.backend import __version__
from pooldesk.backend.cli import (
    advise_cmds,
    audit_cmds,
    compare_cmds,
    completion,
    fit_cmds,
    fleet_cmds,
    helptext,
    host_flag,
    metrics_cmds,
    project_cmds,
)
from pooldesk.backend.workers.spec import POOLS, available_pools


class Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", helptext.HelpFormatter)
        super().__init__(*args, **kwargs)

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        """Everything after ``--`` is the worker options pass-through (``worker start|restart``);
        split here because argparse's subparsers do not hand ``--`` on to a positional."""
        argv = list(sys.argv[1:] if args is None else args)
        tail: list[str] | None = None
        if "--" in argv:
            cut = argv.index("--")
            argv, tail = argv[:cut], argv[cut + 1 :]
        parsed = super().parse_args(argv, namespace)
        if tail is not None:
            if not hasattr(parsed, "extra"):
                self.error(f"unrecognized arguments: -- {' '.join(tail)}")
            parsed.extra = tail
        return parsed

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(2)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 24 * 3600:
        raise argparse.ArgumentTypeError(f"{value} must be > 0 and at most a day")
    return value


def _lazy(module: str, name: str) -> Callable[[argparse.Namespace], int | None]:
    """A handler imported when it runs: ``pooldesk --help`` and the window (``pooldesk``) do
    not pay for importing Celery, kombu and redis for every subcommand (≈ 0.7 s)."""

    def handler(args: argparse.Namespace) -> int | None:
        function = getattr(importlib.import_module(f"pooldesk.backend.cli.{module}"), name)
        return function(args)

    handler.__qualname__ = f"{module}.{name}"
    return handler


def build_parser() -> Parser:
    parser = Parser(prog="pooldesk", description="Control panel for Celery workers and batches.")
    parser.add_argument("--version", action="version", version=f"pooldesk {__version__}")
    parser.set_defaults(handler=None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    sub.add_parser("gui", help="open the window (the default)").set_defaults(handler=None)

    broker = sub.add_parser("broker", help="the managed broker (or the configured external one)")
    bsub = broker.add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=Parser
    )
    bstart = bsub.add_parser("start", help="start the managed redis-server if not running")
    bstart.add_argument("--json", action="store_true")
    bstart.add_argument(
        "--new-port",
        action="store_true",
        help="take a free port if its own is taken (workers started before must be restarted)",
    )
    bstart.set_defaults(handler=_lazy("broker_cmds", "start"))
    bstop = bsub.add_parser("stop", help="stop the managed redis-server")
    bstop.add_argument("--json", action="store_true")
    bstop.set_defaults(handler=_lazy("broker_cmds", "stop"))
    bstatus = bsub.add_parser("status", help="url (password masked), pid, memory, queue lengths")
    bstatus.add_argument("--json", action="store_true")
    bstatus.set_defaults(handler=_lazy("broker_cmds", "status"))

    worker = sub.add_parser("worker", help="start, stop, list and resize workers")
    wsub = worker.add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=Parser
    )
    start = wsub.add_parser("start", help="start a local worker")
    start.add_argument("name", help="the worker's name (its Celery node is NAME@host)")
    start.add_argument(
        "--pool", "-P", choices=POOLS, default=available_pools()[0], help="the execution pool"
    )
    start.add_argument(
        "--concurrency",
        "-c",
        type=positive_int,
        default=None,
        help="slots (default: cores for prefork, 100 for gevent, 1 for solo)",
    )
    start.add_argument(
        "--queues",
        "-Q",
        default=None,
        help="comma-separated queue names (default: 'default' for the demo; for a project, "
        "every queue its tasks route to, from its check)",
    )
    start.add_argument(
        "--autoscale", default=None, metavar="MAX,MIN", help="let Celery grow and shrink the pool"
    )
    start.add_argument("--app", "-A", default=None, help="Celery app import path (module:app)")
    start.epilog = "Other Celery worker options go after '--', e.g. -- --prefetch-multiplier 8"
    start.add_argument("--project", default=None, help="a saved project (pooldesk project add)")
    _worker_options(start)
    start.add_argument("--wait", action="store_true", help="wait until it answers ping")
    start.add_argument("--timeout", type=positive_float, default=None, help="seconds for --wait")
    start.add_argument("--json", action="store_true")
    start.set_defaults(handler=_lazy("worker_cmds", "start"))

    stop = wsub.add_parser("stop", help="warm stop (finish running tasks), then cold, then kill")
    stop.add_argument("name", help="a local worker name, or NAME@HOST of a remote worker")
    stop.add_argument("--cold", action="store_true", help="skip the warm phase")
    stop.add_argument(
        "--timeout",
        type=positive_float,
        default=None,
        help="seconds to wait for running tasks before a cold stop",
    )
    stop.add_argument("--json", action="store_true")
    stop.set_defaults(handler=_lazy("worker_cmds", "stop"))

    restart = wsub.add_parser("restart", help="stop and start again, optionally changed")
    restart.add_argument("name", help="a local worker's name")
    restart.add_argument(
        "--pool", "-P", choices=POOLS, default=None, help="a new pool (default: same)"
    )
    restart.add_argument(
        "--concurrency", "-c", type=positive_int, default=None, help="new slots (default: same)"
    )
    restart.add_argument("--queues", "-Q", default=None, help="new queues (default: same)")
    restart.add_argument(
        "--autoscale", default=None, metavar="MAX,MIN", help="new autoscale (default: same)"
    )
    _worker_options(restart, defaults=False)
    restart.add_argument("--json", action="store_true")
    restart.set_defaults(handler=_lazy("worker_cmds", "restart"))

    resize = wsub.add_parser("resize", help="grow/shrink the pool live, or restart if it can't")
    resize.add_argument("name", help="a local worker name, or NAME@HOST of a remote worker")
    resize.add_argument("concurrency", type=positive_int, help="the new number of slots")
    resize.add_argument("--json", action="store_true")
    resize.set_defaults(handler=_lazy("worker_cmds", "resize"))

    wlist = wsub.add_parser("list", help="local and remote workers with state, CPU and memory")
    wlist.add_argument("--json", action="store_true")
    wlist.add_argument("--local", action="store_true", help="skip asking the broker")
    wlist.set_defaults(handler=_lazy("worker_cmds", "list_workers"))

    logs = wsub.add_parser("logs", help="a worker's log")
    logs.add_argument("name", help="a local worker's name")
    logs.add_argument("--lines", "-n", type=positive_int, default=50, help="last lines to show")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    logs.add_argument(
        "--json",
        action="store_true",
        help="the lines as one JSON object; with --follow, one JSON object per line (JSON Lines)",
    )
    logs.set_defaults(handler=_lazy("worker_cmds", "logs"))

    _add_batch(sub)
    _add_tasks(sub)
    _add_demo(sub)
    compare_cmds.register(sub, positive_int)
    advise_cmds.register(sub, Parser, positive_float)
    audit_cmds.register(sub, Parser, positive_float)
    project_cmds.register(sub, Parser)
    fit_cmds.register(sub, Parser, positive_float)
    metrics_cmds.register(sub, Parser)
    fleet_cmds.register(sub, Parser, positive_float)
    completion.register(sub, Parser, parser)

    wqueues = wsub.add_parser("queues", help="change the queues a worker consumes, live")
    wqueues.add_argument("name", help="a local worker name, or NAME@HOST of a remote worker")
    wqueues.add_argument("queues", help="comma-separated queue names")
    wqueues.add_argument("--json", action="store_true")
    wqueues.set_defaults(handler=_lazy("worker_cmds", "queues"))

    forget = wsub.add_parser("forget", help="remove a stopped or crashed worker from the list")
    forget.add_argument("name", help="a stopped or crashed local worker's name")
    forget.add_argument("--json", action="store_true")
    forget.set_defaults(handler=_lazy("worker_cmds", "forget"))
    host_flag.hook_all(parser)
    helptext.finish(parser)
    return parser


def _worker_options(parser: Parser, defaults: bool = True) -> None:
    """Celery's usual worker options; ``defaults=False`` (restart): unset keeps the old value."""
    parser.add_argument(
        "--loglevel", "-l", default="INFO" if defaults else None, help="DEBUG, INFO, WARNING…"
    )
    parser.add_argument(
        "--max-tasks-per-child",
        type=positive_int,
        default=None,
        metavar="N",
        help="replace a pool process after N tasks",
    )
    parser.add_argument(
        "--max-memory-per-child",
        type=positive_int,
        default=None,
        metavar="KIB",
        help="replace a pool process above this resident memory",
    )
    parser.add_argument(
        "--time-limit",
        type=positive_float,
        default=None,
        metavar="S",
        help="hard limit: a task running longer is killed",
    )
    parser.add_argument(
        "--soft-time-limit",
        type=positive_float,
        default=None,
        metavar="S",
        help="soft limit: SoftTimeLimitExceeded is raised in the task",
    )
    parser.add_argument(
        "--soft-shutdown-timeout",
        type=positive_float,
        default=None,
        metavar="S",
        help="Celery 5.5+: on a cold stop, running tasks get up to S s before they are requeued",
    )
    parser.add_argument(
        "--soft-shutdown-on-idle",
        action="store_true",
        default=None,
        help="Celery 5.5+: use the soft shutdown even when no task runs",
    )
    parser.add_argument(
        "--disable-prefetch",
        action="store_true",
        default=None,
        help="Celery 5.6+, Redis: a process fetches a task only when it is free",
    )
    parser.add_argument(
        "--eta-task-limit",
        type=positive_int,
        default=None,
        metavar="N",
        help="Celery 5.6+: hold at most N ETA/countdown tasks in the worker's memory",
    )
    parser.set_defaults(extra=[])  # other worker options: after '--' (see Parser.parse_args)


def _add_tasks(sub: argparse._SubParsersAction[Parser]) -> None:
    tasks = sub.add_parser("tasks", help="the recorded task history: what ran, what failed, retry")
    tsub = tasks.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=Parser)
    tlist = tsub.add_parser("list", help="recorded tasks, newest first, filtered")
    tlist.add_argument("--state", help="e.g. FAILURE, or FAILURE,RETRY")
    tlist.add_argument("--name", help="task name contains this")
    tlist.add_argument("--queue", help="only tasks of this queue")
    tlist.add_argument("--worker", help="NAME or NAME@host")
    tlist.add_argument("--since", help="30m, 1h, 2d or an ISO date/time")
    tlist.add_argument("--search", help="text in the id, arguments, result or exception")
    tlist.add_argument("--limit", type=positive_int, default=50, help="newest N tasks")
    tlist.add_argument("--json", action="store_true")
    tlist.set_defaults(handler=_lazy("task_cmds", "list_tasks"))
    tshow = tsub.add_parser("show", help="one task with its arguments and traceback")
    tshow.add_argument("id", help="task id (a unique prefix is enough)")
    tshow.add_argument("--json", action="store_true")
    tshow.set_defaults(handler=_lazy("task_cmds", "show"))
    tretry = tsub.add_parser("retry", help="send a recorded task again (same name, args, queue)")
    tretry.add_argument("id", help="task id (a unique prefix is enough)")
    tretry.add_argument("--args", help="replace the positional arguments (a JSON array)")
    tretry.add_argument("--kwargs", help="replace the keyword arguments (a JSON object)")
    tretry.add_argument(
        "--queue", help="send to this queue (needed when the task's queue was never reported)"
    )
    tretry.add_argument("--json", action="store_true")
    tretry.set_defaults(handler=_lazy("task_cmds", "retry"))
    tfail = tsub.add_parser("failures", help="failures grouped by exception and message")
    tfail.add_argument("--since", help="30m, 1h, 2d or an ISO date/time")
    tfail.add_argument("--json", action="store_true")
    tfail.set_defaults(handler=_lazy("task_cmds", "failures"))


def _add_batch(sub: argparse._SubParsersAction[Parser]) -> None:
    batch = sub.add_parser("batch", help="launch and follow invoice and monitoring batches")
    bsub = batch.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=Parser)
    inv = bsub.add_parser("invoices", help="bill customers in chunks (CPU/DB-bound)")
    who = inv.add_mutually_exclusive_group(required=True)
    who.add_argument("--customers", type=positive_int, help="the first N customers")
    who.add_argument("--all", action="store_true", help="every customer in the database")
    inv.add_argument("--period", default=None, help="YYYY-MM (default: last month)")
    inv.add_argument("--chunk-size", type=positive_int, default=500, help="customers per chunk")
    inv.add_argument("--queue", default="invoices", help="the queue the chunks go to")
    _launch_flags(inv)
    inv.set_defaults(handler=_lazy("batch_cmds", "invoices"))

    mon = bsub.add_parser("monitor", help="check URLs (I/O-bound)")
    src = mon.add_mutually_exclusive_group(required=True)
    src.add_argument("--url", action="append", help="a URL to check (repeatable)")
    src.add_argument("--urls", metavar="FILE", help="one URL per line, '#' comments")
    mon.add_argument(
        "--timeout", type=positive_float, default=10.0, help="read timeout per request, seconds"
    )
    mon.add_argument("--queue", default="monitoring", help="the queue the checks go to")
    mon.add_argument(
        "--urls-per-task",
        type=positive_int,
        default=None,
        help="URLs checked concurrently by one task (default: chosen from the list's size)",
    )
    _launch_flags(mon)
    mon.set_defaults(handler=_lazy("batch_cmds", "monitor"))

    _add_batch_run(bsub)

    status = bsub.add_parser("status", help="state, counts and summary of one batch")
    status.add_argument("id", help="batch id (a unique prefix is enough)")
    status.add_argument("--children", action="store_true", help="list every child")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_lazy("batch_cmds", "status"))

    blist = bsub.add_parser("list", help="batch history, newest first")
    blist.add_argument("--limit", type=positive_int, default=50, help="newest N batches")
    blist.add_argument("--json", action="store_true")
    blist.set_defaults(handler=_lazy("batch_cmds", "list_batches"))

    cancel = bsub.add_parser("cancel", help="revoke the children that have not run yet")
    cancel.add_argument("id", help="batch id (a unique prefix is enough)")
    cancel.add_argument("--terminate", action="store_true", help="also kill running children")
    cancel.add_argument("--json", action="store_true")
    cancel.set_defaults(handler=_lazy("batch_cmds", "cancel"))

    retry = bsub.add_parser("retry", help="run the failed children of a finished batch again")
    retry.add_argument("id", help="batch id (a unique prefix is enough)")
    _launch_flags(retry)
    retry.set_defaults(handler=_lazy("batch_cmds", "retry"))


def _add_batch_run(bsub: argparse._SubParsersAction[Parser]) -> None:
    run = bsub.add_parser("run", help="send a project's own task as a batch (items or a range)")
    run.add_argument("--project", required=True, help="the project (pooldesk project list)")
    run.add_argument("--task", required=True, help="the task's registered name")
    src = run.add_mutually_exclusive_group(required=True)
    src.add_argument("--items", metavar="FILE", help=".csv (header row), .jsonl or .txt")
    src.add_argument("--range", metavar="A:B", help="the integers A to B inclusive")
    run.add_argument(
        "--chunk-size", type=int, default=None, help="items per call, as one list argument"
    )
    run.add_argument("--kwargs", action="store_true", help="CSV columns as keyword arguments")
    run.add_argument("--queue", default=None, help="default: the queue the app routes it to")
    run.add_argument("--dry-run", action="store_true", help="the plan and forecast; send nothing")
    _launch_flags(run)
    run.set_defaults(handler=_lazy("project_batch_cmds", "run"))


def _launch_flags(parser: Parser) -> None:
    parser.add_argument(
        "--wait", action="store_true", help="show progress; exit 1 if any child failed"
    )
    parser.add_argument("--json", action="store_true")


def _add_demo(sub: argparse._SubParsersAction[Parser]) -> None:
    demo = sub.add_parser("demo", help="demo data for the invoice workload")
    dsub = demo.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=Parser)
    seed = dsub.add_parser("seed", help="create N customers with usage (idempotent)")
    seed.add_argument("--customers", type=positive_int, required=True, help="how many customers")
    seed.add_argument("--seed", type=int, default=42, help="random seed (deterministic data)")
    seed.add_argument("--periods", default=None, help="YYYY-MM,... (default: last 3 months)")
    seed.add_argument("--json", action="store_true")
    seed.set_defaults(handler=_lazy("batch_cmds", "seed"))
