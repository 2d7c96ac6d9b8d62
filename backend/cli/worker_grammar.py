"""The ``worker`` sub-command group's grammar: start, stop, restart, resize, list, logs, queues,
forget, and Celery's usual worker options shared by start and restart.

Why a module of its own: the largest group of the command, with the one pass-through (``--``)
and the options a restart leaves unset to keep the old value; ``parser.py`` assembles it with
the other groups. Handlers are ``worker_cmds``, imported when they run (``grammar.lazy``).
"""

from __future__ import annotations

import argparse

from pooldesk.backend.cli.grammar import Parser, lazy, positive_float, positive_int
from pooldesk.backend.workers.spec import POOLS, available_pools


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add ``worker`` and its actions."""
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
    start.set_defaults(handler=lazy("worker_cmds", "start"))

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
    stop.set_defaults(handler=lazy("worker_cmds", "stop"))

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
    restart.set_defaults(handler=lazy("worker_cmds", "restart"))

    resize = wsub.add_parser("resize", help="grow/shrink the pool live, or restart if it can't")
    resize.add_argument("name", help="a local worker name, or NAME@HOST of a remote worker")
    resize.add_argument("concurrency", type=positive_int, help="the new number of slots")
    resize.add_argument("--json", action="store_true")
    resize.set_defaults(handler=lazy("worker_cmds", "resize"))

    wlist = wsub.add_parser("list", help="local and remote workers with state, CPU and memory")
    wlist.add_argument("--json", action="store_true")
    wlist.add_argument("--local", action="store_true", help="skip asking the broker")
    wlist.set_defaults(handler=lazy("worker_cmds", "list_workers"))

    logs = wsub.add_parser("logs", help="a worker's log")
    logs.add_argument("name", help="a local worker's name")
    logs.add_argument("--lines", "-n", type=positive_int, default=50, help="last lines to show")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    logs.add_argument(
        "--json",
        action="store_true",
        help="the lines as one JSON object; with --follow, one JSON object per line (JSON Lines)",
    )
    logs.set_defaults(handler=lazy("worker_cmds", "logs"))

    wqueues = wsub.add_parser("queues", help="change the queues a worker consumes, live")
    wqueues.add_argument("name", help="a local worker name, or NAME@HOST of a remote worker")
    wqueues.add_argument("queues", help="comma-separated queue names")
    wqueues.add_argument("--json", action="store_true")
    wqueues.set_defaults(handler=lazy("worker_cmds", "queues"))

    forget = wsub.add_parser("forget", help="remove a stopped or crashed worker from the list")
    forget.add_argument("name", help="a stopped or crashed local worker's name")
    forget.add_argument("--json", action="store_true")
    forget.set_defaults(handler=lazy("worker_cmds", "forget"))


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
