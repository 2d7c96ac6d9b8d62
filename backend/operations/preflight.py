"""The checks every start runs first, whoever starts: a fresh start, a restart, a resize that
restarts, an advisor's fix that restarts.

A project's worker runs in the project's own interpreter with its own broker: before anything is
stopped or spawned, its app must import there, its environment must run the pool, and its broker
must answer (``projects.brokers.prepare_start``). Options that need a newer Celery (soft shutdown,
ETA limit, no prefetch) are refused where the worker's Celery or broker lacks them. The window's
restart and Fix… used to skip both (only its start checked); now one function checks all four.
Both failures are bad input (``SpecError``/``ProjectError``): nothing has been touched.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from pooldesk.backend.workers.spec import SpecError, WorkerSpec

if TYPE_CHECKING:
    from pooldesk.backend.projects.check import CheckResult


def check(spec: WorkerSpec, broker_url: str | None) -> CheckResult | None:
    """Raise ``ProjectError`` or ``SpecError`` when ``spec`` cannot start; ``broker_url``:
    Pooldesk's broker (a project's own broker comes from its check). Returns a project's check
    (its default queue, its tasks), None for Pooldesk's own app."""
    from pooldesk.backend.workers.celery_features import unsupported

    if spec.project:
        from pooldesk.backend.projects.brokers import prepare_start

        checked = prepare_start(spec.project, spec.pool)  # run afresh in its own interpreter
        celery, url = checked.celery, checked.broker_url
    else:
        checked, celery, url = None, own_celery(), broker_url
    problems = unsupported(spec, celery, url)
    if problems:
        raise SpecError(problems)
    return checked


def own_celery() -> str | None:
    """The Celery next to Pooldesk (the demo's and an ``--app`` worker's)."""
    try:
        return version("celery")
    except PackageNotFoundError:
        return None
