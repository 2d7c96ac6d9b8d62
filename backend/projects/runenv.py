"""The environment a project's processes (its check, its workers) get.

Built from Pooldesk's environment minus everything that belongs to Pooldesk: its own
``POOLDESK_*`` settings (a broker password among them), the ``CELERY_BROKER_URL`` /
``CELERY_RESULT_BACKEND`` it sets for the demo (Celery lets those win over an app's own
configuration — the silent override this module exists to prevent), its ``PYTHONPATH``,
``PYTHONHOME`` and virtualenv. Then the project's env file and ``env`` pairs, and
``PYTHONPATH`` = the stand-alone in-worker modules + the user's own ``PYTHONPATH``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from pooldesk.backend.projects.envfile import check_size, parse_file
from pooldesk.backend.projects.model import Project
from pooldesk.backend.workers import inworker

BROKER_VARS = ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")
DROPPED = {*BROKER_VARS, "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}


def secrets(project: Project) -> list[str]:
    """Every value of the project's env file and pairs: masked wherever text is shown."""
    values = list(project.env.values())
    if project.env_file:
        with contextlib.suppress(ValueError):
            values += list(parse_file(Path(project.env_file)).values())
    return [v for v in values if len(v) >= 3]  # "1", "on": masking those would garble text


def project_env(
    project: Project, base: Mapping[str, str] | None = None, keep_broker: bool = False
) -> dict[str, str]:
    """``keep_broker``: the project uses Pooldesk's managed broker, which ``base`` carries in
    ``CELERY_BROKER_URL``/``CELERY_RESULT_BACKEND`` (set by ``workers.process.worker_env``)."""
    base = dict(os.environ if base is None else base)
    env = {k: v for k, v in base.items() if k not in DROPPED and not k.startswith("POOLDESK_")}
    if getattr(sys, "frozen", False) and "LD_LIBRARY_PATH_ORIG" in base:
        env["LD_LIBRARY_PATH"] = base["LD_LIBRARY_PATH_ORIG"]  # PyInstaller's own, undone
    if project.env_file:
        env.update(parse_file(Path(project.env_file)))
    env.update(project.env)
    check_size(env, f"env file {project.env_file}" if project.env_file else "the project's env")
    if keep_broker:
        env.update({k: base[k] for k in BROKER_VARS if base.get(k)})
    bindir = str(Path(project.python).parent)
    env["PATH"] = os.pathsep.join([bindir, *filter(None, env.get("PATH", "").split(os.pathsep))])
    user_path = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([str(inworker.path()), *user_path])
    env["PYTHONUNBUFFERED"] = "1"
    return env
