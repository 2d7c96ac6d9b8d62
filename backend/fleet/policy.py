"""What an agent agrees to run: only projects registered on its own host, never a command line.

A signed command proves it comes from a holder of the fleet key, not that it is sensible: the
agent still refuses a start of a project that is not registered on this host (a project record
mirrored from another host's registration included), an ``app`` other than the project's own,
and Celery options that would change what runs or where (``-A``, ``--broker``…).
"""

from __future__ import annotations

from typing import Any

from pooldesk.backend.projects.model import DEMO
from pooldesk.backend.projects.store import ProjectStore
from pooldesk.backend.workers.spec import DEFAULT_APP

# Options that would choose another app, broker, config or directory than the project's.
FORBIDDEN_OPTIONS = (
    "-A",
    "--app",
    "-b",
    "--broker",
    "--result-backend",
    "--config",
    "--workdir",
    "--pidfile",
    "--logfile",
    "-f",
    "--uid",
    "--gid",
    "--executable",
)


# Fields only a start may set, from the project registered here: a restart's change of app or
# project would run other code under the old name.
START_ONLY = ("app", "project")


def _forbidden(arg: str) -> str | None:
    """The forbidden option in ``arg``: ``--broker=x``, ``-A x`` and the glued ``-Ax`` alike."""
    flag = arg.split("=", 1)[0]
    if flag in FORBIDDEN_OPTIONS:
        return flag
    if arg.startswith("-") and not arg.startswith("--"):
        short = arg[:2]
        if short in FORBIDDEN_OPTIONS:
            return short
    return None


def refusal(request: dict[str, Any], host: str, store: ProjectStore) -> str | None:
    """Why this host will not run ``request`` (a Request's JSON), or None: it may."""
    params = request.get("params") or {}
    if not isinstance(params, dict):
        return None  # the operations API's own check names the problem
    extra = params.get("extra_args") or []
    if isinstance(extra, list):
        for arg in extra:
            flag = _forbidden(str(arg))
            if flag:
                return f"worker option {flag} is not accepted through the fleet"
    if params.get("extra_env"):
        # PYTHONPATH or LD_PRELOAD would run any code: a host's environment for its workers is
        # the project's env file there, never a command's.
        return (
            "environment variables are not accepted through the fleet "
            "(put them in the project's env file on that host)"
        )
    if request.get("op") != "start":
        changed = [k for k in START_ONLY if params.get(k) not in (None, "")]
        if changed:
            return (
                f"{changed[0]} can only be chosen when a worker starts, not on {request.get('op')}"
            )
        return None
    project = params.get("project")
    if project in (None, "", DEMO):
        app = params.get("app")
        if app not in (None, DEFAULT_APP):
            return f"app {app!r}: a fleet start runs a registered project (or the demo)"
        return None
    saved = store.load(str(project))
    if saved is None or not saved.runs_on(host):
        return (
            f"project {project!r} is not registered on host {host} "
            f"(pooldesk project add {project} --host {host} ...)"
        )
    app = params.get("app")
    if app not in (None, saved.app):
        return f"app {app!r}: project {project} runs {saved.app}"
    return None


def with_project_app(request: dict[str, Any], store: ProjectStore) -> dict[str, Any]:
    """The request with ``app`` set from the project on this host (the panel may not know it)."""
    params = dict(request.get("params") or {})
    if request.get("op") == "start" and params.get("project") not in (None, "", DEMO):
        saved = store.load(str(params["project"]))
        if saved is not None:
            params["app"] = saved.app
    return {**request, "params": params}
