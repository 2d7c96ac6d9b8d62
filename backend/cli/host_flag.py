"""``--host H`` on worker and project commands, hooked in without touching their modules.

Each wrapped command keeps its local handler; when ``--host`` names another host, the command
goes through the fleet instead (``host_cmds``, imported only then). "Another host" is any name
but this machine's own (``fleet.local.local_names``). Without ``--host``, a command about a
project registered on another host follows it there or is refused (``_follow_registered_host``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

WORKER_ACTIONS = ("start", "stop", "restart", "resize", "logs", "forget")
PROJECT_ACTIONS = ("add", "check", "remove")
FOLLOWED = ("check", "remove")  # without --host, these follow a host project to its host
HOST_HELP = "run it on this fleet host, through its agent (pooldesk host list)"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, Any]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _wrap(
    local: Callable[[argparse.Namespace], int | None], group: str, action: str
) -> Callable[[argparse.Namespace], int | None]:
    def handler(args: argparse.Namespace) -> int | None:
        from pooldesk.backend.fleet.local import local_names

        if not getattr(args, "host", None):
            refused = _follow_registered_host(group, action, args)
            if refused is not None:
                return refused
        host = getattr(args, "host", None)
        if not host or host in local_names():
            return local(args)
        import importlib

        remote = importlib.import_module("pooldesk.backend.cli.host_cmds")
        return int(remote.run(group, action, args))

    handler.__qualname__ = getattr(local, "__qualname__", action)
    return handler


def _follow_registered_host(group: str, action: str, args: argparse.Namespace) -> int | None:
    """A command without ``--host`` about a project registered on another host: ``project
    check|remove`` go to that host (said on stderr, sets ``args.host``); ``worker start`` is
    refused (exit 2, nothing started) — run here, both would use the other host's paths on
    this machine. None: carry on."""
    from pooldesk.backend.fleet.local import elsewhere, start_refusal
    from pooldesk.backend.projects.store import ProjectStore

    if group == "project" and action in FOLLOWED:
        project = ProjectStore().load(args.name)
        host = elsewhere(project)
        if host:
            doing = "checking" if action == "check" else "removing"
            print(
                f"project {args.name} is registered on host {host}: {doing} it there, "
                "through its agent",
                file=sys.stderr,
            )
            args.host = host
    elif group == "worker" and action == "start" and getattr(args, "project", None):
        project = ProjectStore().load(args.project)
        if project is not None and elsewhere(project):
            from pooldesk.backend.cli.output import fail

            return fail(start_refusal(project, flag=True), code=2)
    return None


def hook(subparsers: dict[str, Any], group: str, actions: tuple[str, ...]) -> None:
    for action in actions:
        cmd = subparsers[action]
        cmd.add_argument("--host", default=None, metavar="H", help=HOST_HELP)
        cmd.set_defaults(handler=_wrap(cmd.get_default("handler"), group, action))


def hook_all(parser: argparse.ArgumentParser) -> None:
    """Add ``--host`` to ``worker start|stop|restart|resize|logs|forget`` and ``project
    add|check|remove``."""
    top = _subparsers(parser)
    hook(_subparsers(top["worker"]), "worker", WORKER_ACTIONS)
    hook(_subparsers(top["project"]), "project", PROJECT_ACTIONS)
