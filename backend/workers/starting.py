"""Starting one local worker: the refusals that keep one worker per name, then the spawn.

Why apart from the manager: a start is the one operation that must decide, under the worker's
lock (``RecordStore.lock``, held by the caller), whether the name is free — Celery running, a
supervisor still starting it or restarting it after a crash, or a node of that name answering
on the broker — and each refusal is a sentence a person reads. The manager holds the lock,
waits for the worker to answer and undoes a start that never does; this module is what
happens in between: the checks, the record, the supervisor's spawn and the task-history
recorder for the broker it starts on.
"""

from __future__ import annotations

import contextlib
import subprocess
import time

from pooldesk.backend import proc
from pooldesk.backend.broker.resolve import BrokerConfig
from pooldesk.backend.projects.brokers import own_broker
from pooldesk.backend.redact import mask_url
from pooldesk.backend.workers import process
from pooldesk.backend.workers.brokers import WorkerBrokers
from pooldesk.backend.workers.info import WorkerError, node_name
from pooldesk.backend.workers.records import RecordStore, WorkerRecord
from pooldesk.backend.workers.spec import WorkerSpec


def celery_alive(store: RecordStore, name: str) -> bool:
    """Celery's main process of ``name`` runs (its pid recorded, no exit recorded since): a
    start refuses it, the manager lists it alive, ``upkeep`` adopts it when orphaned."""
    info = store.pid_info(name)
    if info is None or store.exit_info(name) is not None:
        return False
    return proc.alive(info.celery_pid, info.create_time)


def start_locked(
    store: RecordStore,
    brokers: WorkerBrokers,
    spec: WorkerSpec,
    restarts: int,
    restart_window: float,
    children: dict[str, subprocess.Popen[bytes]],
) -> None:
    """Check and spawn; the caller holds ``store.lock(spec.name)``. The supervisor's process
    goes into ``children`` (its owner reaps it after a stop)."""
    record = store.load(spec.name)
    if record is not None and celery_alive(store, spec.name):
        pid = getattr(store.pid_info(spec.name), "celery_pid", None)
        raise WorkerError(f"a worker named {spec.name!r} is already running (pid {pid})")
    if record is not None and proc.alive(record.supervisor_pid, record.supervisor_create_time):
        exit_info = store.exit_info(spec.name)
        if exit_info is not None and exit_info.restarting:
            raise WorkerError(
                f"worker {spec.name!r} is restarting after a crash; use restart (or stop) instead"
            )
        raise WorkerError(
            f"a worker named {spec.name!r} is already starting "
            f"(supervisor pid {record.supervisor_pid})"
        )
    own = own_broker(spec.project)
    config = brokers.ensure() if own is None else None
    node = node_name(spec.name)
    if brokers.control_for(spec).ping([node], timeout=0.3):
        raise WorkerError(f"a worker named {node} already answers on this broker")
    store.clear_run(spec.name)
    starts = [t for t in (record.starts if record else []) if t > time.time() - 3600]
    record = WorkerRecord(
        spec=spec,
        hostname=node,
        started_at=time.time(),
        starts=[*starts, time.time()],
        broker=mask_url((config or own or brokers.config).broker_url),
    )
    child = process.spawn(spec, config, restarts, restart_window)
    children[spec.name] = child
    record.supervisor_pid = child.pid
    record.supervisor_create_time = proc.create_time(child.pid)
    store.save(record)
    # Task history: one recorder per broker in use, a project's own broker included.
    history_broker = config if config is not None else own
    if history_broker is not None and history_broker.broker_url:
        ensure_recorder(history_broker)


def ensure_recorder(config: BrokerConfig) -> None:
    """The task-history recorder for a broker a worker starts on (backend/taskhistory); never
    fails a start: the history is secondary to the worker itself."""
    from pooldesk.backend.taskhistory.service import ensure_recorder as ensure

    with contextlib.suppress(Exception):
        ensure(config)
