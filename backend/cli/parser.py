"""The argument grammar, assembled: the top level, the small ``broker`` and ``tasks`` groups,
and every other group from its own module (``worker_grammar``, ``batch_grammar``, the
``register`` of ``*_cmds`` modules). Bad flags: one clear line on stderr, exit code 2, nothing
started (``grammar.Parser``)."""

from __future__ import annotations

import argparse

from pooldesk.backend import __version__
from pooldesk.backend.cli import (
    advise_cmds,
    audit_cmds,
    batch_grammar,
    compare_cmds,
    completion,
    fit_cmds,
    fleet_cmds,
    helptext,
    host_flag,
    metrics_cmds,
    project_cmds,
    worker_grammar,
)
from pooldesk.backend.cli.grammar import Parser, lazy, positive_int


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
    bstart.set_defaults(handler=lazy("broker_cmds", "start"))
    bstop = bsub.add_parser("stop", help="stop the managed redis-server")
    bstop.add_argument("--json", action="store_true")
    bstop.set_defaults(handler=lazy("broker_cmds", "stop"))
    bstatus = bsub.add_parser("status", help="url (password masked), pid, memory, queue lengths")
    bstatus.add_argument("--json", action="store_true")
    bstatus.set_defaults(handler=lazy("broker_cmds", "status"))

    worker_grammar.register(sub)
    batch_grammar.register(sub)
    _add_tasks(sub)
    batch_grammar.register_demo(sub)
    compare_cmds.register(sub)
    advise_cmds.register(sub)
    audit_cmds.register(sub)
    project_cmds.register(sub)
    fit_cmds.register(sub)
    metrics_cmds.register(sub)
    fleet_cmds.register(sub)
    completion.register(sub, parser)  # the whole grammar, built here, is what it completes

    host_flag.hook_all(parser)
    helptext.finish(parser)
    return parser


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
    tlist.set_defaults(handler=lazy("task_cmds", "list_tasks"))
    tshow = tsub.add_parser("show", help="one task with its arguments and traceback")
    tshow.add_argument("id", help="task id (a unique prefix is enough)")
    tshow.add_argument("--json", action="store_true")
    tshow.set_defaults(handler=lazy("task_cmds", "show"))
    tretry = tsub.add_parser("retry", help="send a recorded task again (same name, args, queue)")
    tretry.add_argument("id", help="task id (a unique prefix is enough)")
    tretry.add_argument("--args", help="replace the positional arguments (a JSON array)")
    tretry.add_argument("--kwargs", help="replace the keyword arguments (a JSON object)")
    tretry.add_argument(
        "--queue", help="send to this queue (needed when the task's queue was never reported)"
    )
    tretry.add_argument("--json", action="store_true")
    tretry.set_defaults(handler=lazy("task_cmds", "retry"))
    tfail = tsub.add_parser("failures", help="failures grouped by exception and message")
    tfail.add_argument("--since", help="30m, 1h, 2d or an ISO date/time")
    tfail.add_argument("--json", action="store_true")
    tfail.set_defaults(handler=lazy("task_cmds", "failures"))
