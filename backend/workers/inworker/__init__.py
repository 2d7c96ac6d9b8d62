"""Code that runs *inside* a Celery worker, a user's worker included.

The modules here are stand-alone: they import only the standard library, Celery and (when
present) gevent — never ``backend`` — because a user's worker runs the user's interpreter, in
the user's working directory, where Pooldesk's packages are not importable (and a user package
named ``backend`` would collide with ours). :func:`path` is the directory put on the worker's
``PYTHONPATH`` so ``python -m _pooldesk_probe`` finds them by their unique names.
"""

from __future__ import annotations

from pathlib import Path

PROBE_MODULE = "_pooldesk_probe"
CHECK_MODULE = "_pooldesk_check"  # a project's app described in its own interpreter
CONFIG_MODULE = "_pooldesk_config"  # the settings the audit judges, with their sources


def path() -> Path:
    """The directory holding the stand-alone in-worker modules (files, also in a frozen build)."""
    return Path(__file__).resolve().parent
