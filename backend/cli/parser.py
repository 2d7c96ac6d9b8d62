"""The argument grammar. Bad flags: one clear line on stderr, exit code 2, nothing started."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from backend import __version__
from backend.cli import broker_cmds, worker_cmds
from backend.workers.spec import POOLS


class Parser(argparse.ArgumentParser):
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
    bstart.set_defaults(handler=broker_cmds.start)
    bstop = bsub.add_parser("stop", help="stop the managed redis-server")
    bstop.add_argument("--json", action="store_true")
    bstop.set_defaults(handler=broker_cmds.stop)
    bstatus = bsub.add_parser("status", help="url (password masked), pid, memory, queue lengths")
    bstatus.add_argument("--json", action="store_true")
    bstatus.set_defaults(handler=broker_cmds.status)

    worker = sub.add_parser("worker", help="start, stop, list and resize workers")
    wsub = worker.add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=Parser
    )
    start = wsub.add_parser("start", help="start a local worker")
    start.add_argument("name")
    start.add_argument("--pool", "-P", choices=POOLS, default="prefork")
    start.add_argument(
        "--concurrency",
        "-c",
        type=positive_int,
        default=None,
        help="slots (default: cores for prefork, 100 for gevent, 1 for solo)",
    )
    start.add_argument("--queues", "-Q", default="default", help="comma-separated queue names")
    start.add_argument("--autoscale", default=None, metavar="MAX,MIN")
    start.add_argument("--app", "-A", default=None, help="Celery app import path (module:app)")
    start.add_argument("--wait", action="store_true", help="wait until it answers ping")
    start.add_argument("--timeout", type=positive_float, default=None, help="seconds for --wait")
    start.add_argument("--json", action="store_true")
    start.set_defaults(handler=worker_cmds.start)

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
    stop.set_defaults(handler=worker_cmds.stop)

    restart = wsub.add_parser("restart", help="stop and start again, optionally changed")
    restart.add_argument("name")
    restart.add_argument("--pool", "-P", choices=POOLS, default=None)
    restart.add_argument("--concurrency", "-c", type=positive_int, default=None)
    restart.add_argument("--queues", "-Q", default=None)
    restart.add_argument("--json", action="store_true")
    restart.set_defaults(handler=worker_cmds.restart)

    resize = wsub.add_parser("resize", help="grow/shrink the pool live, or restart if it can't")
    resize.add_argument("name", help="a local worker name, or NAME@HOST of a remote worker")
    resize.add_argument("concurrency", type=positive_int)
    resize.add_argument("--json", action="store_true")
    resize.set_defaults(handler=worker_cmds.resize)

    wlist = wsub.add_parser("list", help="local and remote workers with state, CPU and memory")
    wlist.add_argument("--json", action="store_true")
    wlist.add_argument("--local", action="store_true", help="skip asking the broker")
    wlist.set_defaults(handler=worker_cmds.list_workers)

    logs = wsub.add_parser("logs", help="a worker's log")
    logs.add_argument("name")
    logs.add_argument("--lines", "-n", type=positive_int, default=50)
    logs.add_argument("--follow", "-f", action="store_true")
    logs.set_defaults(handler=worker_cmds.logs)

    forget = wsub.add_parser("forget", help="remove a stopped or crashed worker from the list")
    forget.add_argument("name")
    forget.set_defaults(handler=worker_cmds.forget)
    return parser
