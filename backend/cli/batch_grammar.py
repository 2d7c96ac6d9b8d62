"""The ``batch`` and ``demo`` sub-command groups' grammar: launching and following invoice,
monitoring and project batches, and the demo data they bill.

Why a module of its own: the batch flags are the workloads' own (customers, URLs, items,
chunks) and share the launch flags; ``parser.py`` assembles them with the other groups.
Handlers are ``batch_cmds`` and ``project_batch_cmds``, imported when they run
(``grammar.lazy``).
"""

from __future__ import annotations

import argparse

from pooldesk.backend.cli.grammar import Parser, lazy, positive_float, positive_int


def register(sub: argparse._SubParsersAction[Parser]) -> None:
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
    inv.set_defaults(handler=lazy("batch_cmds", "invoices"))

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
    mon.set_defaults(handler=lazy("batch_cmds", "monitor"))

    _add_batch_run(bsub)

    status = bsub.add_parser("status", help="state, counts and summary of one batch")
    status.add_argument("id", help="batch id (a unique prefix is enough)")
    status.add_argument("--children", action="store_true", help="list every child")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=lazy("batch_cmds", "status"))

    blist = bsub.add_parser("list", help="batch history, newest first")
    blist.add_argument("--limit", type=positive_int, default=50, help="newest N batches")
    blist.add_argument("--json", action="store_true")
    blist.set_defaults(handler=lazy("batch_cmds", "list_batches"))

    cancel = bsub.add_parser("cancel", help="revoke the children that have not run yet")
    cancel.add_argument("id", help="batch id (a unique prefix is enough)")
    cancel.add_argument("--terminate", action="store_true", help="also kill running children")
    cancel.add_argument("--json", action="store_true")
    cancel.set_defaults(handler=lazy("batch_cmds", "cancel"))

    retry = bsub.add_parser("retry", help="run the failed children of a finished batch again")
    retry.add_argument("id", help="batch id (a unique prefix is enough)")
    _launch_flags(retry)
    retry.set_defaults(handler=lazy("batch_cmds", "retry"))


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
    run.set_defaults(handler=lazy("project_batch_cmds", "run"))


def _launch_flags(parser: Parser) -> None:
    parser.add_argument(
        "--wait", action="store_true", help="show progress; exit 1 if any child failed"
    )
    parser.add_argument("--json", action="store_true")


def register_demo(sub: argparse._SubParsersAction[Parser]) -> None:
    demo = sub.add_parser("demo", help="demo data for the invoice workload")
    dsub = demo.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=Parser)
    seed = dsub.add_parser("seed", help="create N customers with usage (idempotent)")
    seed.add_argument("--customers", type=positive_int, required=True, help="how many customers")
    seed.add_argument("--seed", type=int, default=42, help="random seed (deterministic data)")
    seed.add_argument("--periods", default=None, help="YYYY-MM,... (default: last 3 months)")
    seed.add_argument("--json", action="store_true")
    seed.set_defaults(handler=lazy("batch_cmds", "seed"))
