"""Where a project batch goes: the project, its task, its queue, its broker and result backend.

Validated against the project's last check (``project check`` lists its tasks and the queue each
routes to; run afresh when there is no check yet), so a misspelt task or queue is refused with
the close matches before anything is sent. The broker and result backend are the app's own, as
the check resolved them (or Pooldesk's managed broker for a project that chose it).

Why a result backend is required (and ``rpc://`` refused): Pooldesk follows a project batch by
reading its children's results where the project's workers store them. ``rpc://`` delivers a
result only to the process that sent the task, over a reply queue that lives as long as it does,
so a batch could not be followed after ``batch run`` returns, nor from the window. Refusing with
what to set is clearer than a batch that never ends.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pooldesk.backend.broker.resolve import BrokerConfig, current_config
from pooldesk.backend.projects.check import CheckResult, run_check
from pooldesk.backend.projects.model import DEMO, Project, ProjectError
from pooldesk.backend.projects.store import ProjectStore


class TargetError(ValueError):
    """Bad input about where a batch goes: exit 2, nothing sent."""


@dataclass(frozen=True)
class Target:
    project: str
    task: str
    queue: str
    broker_url: str  # REAL: never printed (masked by callers)
    result_backend: str  # REAL, with a relative sqlite path made absolute
    acks_late: bool = False
    workdir: str | None = None
    tasks: tuple[str, ...] = field(default_factory=tuple)

    @property
    def config(self) -> BrokerConfig:
        return BrokerConfig(self.broker_url, self.result_backend, managed=False)


def close_matches(word: str, choices: list[str]) -> str:
    """``; did you mean X or Y?`` (also on the last dotted part: ``bill`` → ``shop.tasks.bill``)."""
    found = difflib.get_close_matches(word, choices, n=3, cutoff=0.6)
    if not found:
        short = {c.rsplit(".", 1)[-1]: c for c in choices}
        found = [short[m] for m in difflib.get_close_matches(word, list(short), n=3, cutoff=0.6)]
    return f"; did you mean {' or '.join(found)}?" if found else ""


def resolve_backend(url: str | None, workdir: str | None) -> str:
    """``db+sqlite:///results.db`` is relative to the *worker's* directory (the project's
    workdir), not Pooldesk's: made absolute so both read the same file."""
    if not url or url.startswith("rpc://") or url == "disabled":
        raise TargetError(
            "the app has no result backend Pooldesk can read "
            f"({'rpc://' if url and url.startswith('rpc') else 'none set'}): Pooldesk follows a "
            "batch through the results its workers store; set result_backend to redis://… or a "
            "database (db+sqlite:///results.db, db+postgresql://…) and run project check"
        )
    prefix = "sqlite:///"
    head, sep, rest = url.partition(prefix)
    if sep and head in ("db+", "") and not rest.startswith("/") and rest and workdir:
        return f"{head}{prefix}{Path(workdir, rest)}"
    return url


def load_check(name: str, store: ProjectStore, fresh: bool = False) -> tuple[Project, CheckResult]:
    if name == DEMO:
        raise TargetError("the demo project has its own batches: pooldesk batch invoices|monitor")
    try:
        project = store.get(name)
    except ProjectError as exc:
        raise TargetError(str(exc)) from None
    check = None if fresh else store.last_check(name)
    if check is None or not check.ok:
        try:
            check = run_check(project)
        except ProjectError as exc:
            raise TargetError(f"project {name}: {exc}") from None
        store.save_check(name, check)
    if not check.ok:
        raise TargetError(f"project {name}: app {project.app} does not import: {check.error}")
    return project, check


def resolve(
    project: str, task: str, queue: str | None = None, store: ProjectStore | None = None
) -> Target:
    store = store or ProjectStore()
    spec, check = load_check(project, store)
    names = [t["name"] for t in check.tasks]
    if task not in names:  # the check may predate a new task: look once more
        spec, check = load_check(project, store, fresh=True)
        names = [t["name"] for t in check.tasks]
    if task not in names:
        raise TargetError(f"project {project} has no task {task!r}{close_matches(task, names)}")
    entry: dict[str, Any] = next(t for t in check.tasks if t["name"] == task)
    if queue is not None:
        if not queue.strip():
            raise TargetError("--queue: give a queue name")
        known = check.queues
        if queue not in known and close_matches(queue, known):
            raise TargetError(
                f"project {project} routes no task to queue {queue!r}{close_matches(queue, known)}"
                " (to use a new queue anyway, start a worker on it first)"
            )
    if spec.managed_broker:
        managed = current_config()
        broker, backend = managed.broker_url, managed.result_backend
    else:
        broker, backend = check.broker_url, check.result_backend
    if not broker:
        raise TargetError(f"project {project}: its app has no broker URL (run project check)")
    return Target(
        project=project,
        task=task,
        queue=queue or str(entry.get("queue") or check.default_queue or "celery"),
        broker_url=broker,
        result_backend=resolve_backend(backend, spec.workdir),
        acks_late=bool(entry.get("acks_late", False)),
        workdir=spec.workdir,
        tasks=tuple(names),
    )
