"""Which broker a worker is on, and the checks before a project's worker starts.

The demo, an ``--app`` from Pooldesk's environment and a project that chose the managed broker
are on Pooldesk's broker. Any other project is on the broker *its app* resolves — as the last
check saw it, from the 0600 cache (``store.last_check``): the real URL stays in that file and in
memory, every display masks it.
"""

from __future__ import annotations

from pooldesk.backend.broker.resolve import BrokerConfig
from pooldesk.backend.projects.check import CheckResult, run_check
from pooldesk.backend.projects.model import DEMO, ProjectError
from pooldesk.backend.projects.store import ProjectStore
from pooldesk.backend.workers.records import RecordStore


def own_broker(project: str | None, store: ProjectStore | None = None) -> BrokerConfig | None:
    """The project's own broker, or None when the worker is on Pooldesk's broker."""
    if not project or project == DEMO:
        return None
    store = store or ProjectStore()
    saved = store.load(project)
    if saved is None or saved.managed_broker:
        return None
    check = store.last_check(project)
    return BrokerConfig(
        check.broker_url if check else None,
        check.result_backend if check else None,
        managed=False,
    )


def prepare_start(project: str, pool: str, store: ProjectStore | None = None) -> CheckResult:
    """Before a project's worker starts: the app imports (checked afresh in its own interpreter,
    result cached), the environment can run ``pool``, and the app's broker answers. A project
    registered on another host is refused first. Any failure is a ProjectError (bad input:
    exit 2, nothing started)."""
    from pooldesk.backend.broker.status import broker_status
    from pooldesk.backend.fleet.local import elsewhere, start_refusal

    store = store or ProjectStore()
    spec = store.get(project)
    if elsewhere(spec):  # its paths are another host's: nothing here runs them
        raise ProjectError(start_refusal(spec))
    result = run_check(spec)
    store.save_check(project, result)
    if not result.ok:
        raise ProjectError(f"project {project}: app {spec.app} does not import: {result.error}")
    reason = result.pools.get(pool)
    if reason:
        raise ProjectError(f"project {project}: pool {pool!r} cannot run there: {reason}")
    if not spec.managed_broker:
        config = BrokerConfig(result.broker_url, result.result_backend, managed=False)
        status = broker_status(config, queues=())
        if not status.up:
            raise ProjectError(f"project {project}: {status.error}")
    return result


def brokers_in_use(records: RecordStore | None = None) -> list[BrokerConfig]:
    """The own brokers of the projects that have a worker in the list (for the event monitors)."""
    return [config for _project, config, _queues in project_brokers(records)]


def project_brokers(
    records: RecordStore | None = None,
) -> list[tuple[str, BrokerConfig, tuple[str, ...]]]:
    """``(project, its own broker, the queues its workers consume)`` for each project with a
    worker in the list and a broker of its own (the status bar lists each, with its backlog)."""
    records = records or RecordStore()
    queues: dict[str, set[str]] = {}
    for record in map(records.load, records.names()):
        if record and record.spec.project:
            queues.setdefault(record.spec.project, set()).update(record.spec.queues)
    store = ProjectStore()
    out = []
    for project in sorted(queues):
        config = own_broker(project, store)
        if config is not None and config.broker_url:
            out.append((project, config, tuple(sorted(queues[project]))))
    return out
