"""The panel's side of a project registered on another host: the request, and the mirror.

The CLI (``project add|check|remove --host H``, ``host_cmds``) and the window (the project
dialog and Settings ▸ Projects, through the fleet service) build the same request here and
keep the agent's answer the same way: a mirror of the project (no env values: there are none to
send) and the agent's check, masked, beside it (``ProjectStore.save_host_check``). The mirror is
written only when the agent saved the project there.
"""

from __future__ import annotations

import os
from typing import Any

from pooldesk.backend.projects.model import Project, ProjectError
from pooldesk.backend.projects.store import ProjectStore

# Env values are secrets: they never travel through the broker (anyone who can read its queues
# would read them). A project on another host takes an env file that lives there.
ENV_NOT_SENT = "env values are not sent through the broker; give --env-file, a file on that host"


def env_refusal(cli: bool = True) -> str:
    """The one rule about env values for another host, in the CLI's words or the dialog's."""
    return f"{'--env with --host' if cli else 'extra env on another host'}: {ENV_NOT_SENT}"


def add_params(
    host: str,
    name: str,
    python: str | None,
    workdir: str,
    app: str,
    env_file: str | None = None,
    managed_broker: bool = False,
    replace: bool = False,
    venv: str | None = None,
) -> dict[str, Any]:
    """A ``project_add`` request's params: paths as they are on ``host`` (absolute, not
    expanded here: this machine's ``~`` means nothing there); ``venv``: its virtualenv, when
    no ``python`` is given. ValueError names a bad path."""

    def there(path: str | None) -> str | None:
        if path and not os.path.isabs(path):
            raise ValueError(f"{path}: give an absolute path on host {host}")
        return path or None

    python = there(python) or os.path.join(there(venv) or "", "bin", "python")
    params: dict[str, Any] = {
        "name": name,
        "python": python,
        "workdir": there(workdir) or "",
        "app": app,
        "env_file": there(env_file),
        "managed_broker": bool(managed_broker),
    }
    if replace:  # an edit: the agent replaces its own record of the project (never a new one)
        params["replace"] = True
    return params


def mirror(data: dict[str, Any], host: str, store: ProjectStore | None = None) -> str | None:
    """Keep this panel's record of a project the agent of ``host`` saved (``data``: its reply's
    ``data``). Returns a warning when it cannot be listed here, else None."""
    store = store or ProjectStore()
    saved = dict(data.get("project") or {})
    saved.update(env={}, host=host)
    mine = store.load(str(saved.get("name", "")))
    if mine is not None and mine.host != host:
        return f"not listed here: a project {mine.name} of another host is saved here"
    try:
        store.add(Project.from_dict(saved), replace=True)
    except (ProjectError, KeyError, TypeError, ValueError) as exc:
        return f"not listed here ({exc})"
    if isinstance(data.get("check"), dict):
        keep_check(str(saved["name"]), host, data["check"], store)
    return None


def keep_check(
    name: str, host: str, check: dict[str, Any], store: ProjectStore | None = None
) -> None:
    """The agent's check (public part) beside this panel's mirror of a project of ``host``, so
    ``project list`` and the window show its broker and when it was checked. Only for a mirror
    of that host's project: a local project of the same name keeps its own check."""
    store = store or ProjectStore()
    mine = store.load(name)
    if mine is not None and mine.host == host:
        store.save_host_check(name, host, check)


def unmirror(name: str, host: str, store: ProjectStore | None = None) -> None:
    """Forget the mirror (and its check) once the agent of ``host`` removed the project."""
    store = store or ProjectStore()
    saved = store.load(name)
    if saved is not None and saved.host == host:
        store.remove(name)
