"""Which fleet host is this machine, and where a saved project's workers run.

A project registered on another host (``project add --host H``) is mirrored here so the panel
can list it; its interpreter and workdir are paths *there*. Run here, its check would import
whatever sits at those paths on this machine (and cache that app's real broker URL beside the
mirror), and its workers would start on the wrong machine: every caller asks :func:`elsewhere`
first and sends the command to that host's agent, or refuses.
"""

from __future__ import annotations

import os
import socket

from pooldesk.backend.projects.model import Project

HOST_ENV = "POOLDESK_FLEET_HOST"  # an agent sets it to its own name (``agent serve``)


def local_names() -> set[str]:
    """This machine's names: its hostname (short and full), ``localhost`` and, under an agent
    or a test, ``POOLDESK_FLEET_HOST``."""
    names = {"localhost", socket.gethostname(), socket.gethostname().split(".")[0]}
    if os.environ.get(HOST_ENV):
        names.add(os.environ[HOST_ENV])
    return names


def elsewhere(project: Project | None) -> str | None:
    """The host ``project`` runs on when that is not this machine, else None."""
    if project is None or not project.host or project.host in local_names():
        return None
    return project.host


def start_refusal(project: Project, flag: bool = False) -> str:
    """Why a worker of ``project`` (a project of another host) does not start here; ``flag``:
    name the CLI's ``--host`` to add."""
    how = f"add --host {project.host}" if flag else f"start it on host {project.host}"
    return (
        f"project {project.name} is registered on host {project.host}: its workers run there, "
        f"through its agent ({how}); nothing was started"
    )
