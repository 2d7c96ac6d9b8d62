"""``--host H`` on worker and project commands, hooked in without touching their modules.

Each wrapped command keeps its local handler; when ``--host`` names another host, the command
goes through the fleet instead (``host_cmds``, imported only then). "Another host" is any name
but this machine's own (its short hostname, ``localhost``, or ``POOLDESK_FLEET_HOST``).
"""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Callable
from typing import Any

WORKER_ACTIONS = ("start", "stop", "restart", "resize", "logs", "forget")
PROJECT_ACTIONS = ("add", "check", "remove")
HOST_HELP = "run it on this fleet host, through its agent (pooldesk host list)"


def local_names() -> set[str]:
    names = {"localhost", socket.gethostname(), socket.gethostname().split(".")[0]}
    if os.environ.get("POOLDESK_FLEET_HOST"):
        names.add(os.environ["POOLDESK_FLEET_HOST"])
    return names


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, Any]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _wrap(
    local: Callable[[argparse.Namespace], int | None], group: str, action: str
) -> Callable[[argparse.Namespace], int | None]:
    def handler(args: argparse.Namespace) -> int | None:
        host = getattr(args, "host", None)
        if not host or host in local_names():
            return local(args)
        import importlib

        remote = importlib.import_module("pooldesk.backend.cli.host_cmds")
        return int(remote.run(group, action, args))

    handler.__qualname__ = getattr(local, "__qualname__", action)
    return handler


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
