"""What every listing of workers also looks after: killed supervisors, unreachable brokers.

Whoever polls (``pooldesk worker list``, ``advise``, the window's refresh) goes through
``WorkerManager.all``, which calls these, so a fault is noticed by the next look, not by a
command someone has to remember.

**A killed supervisor** (:func:`adopt_orphans`): Celery runs on, but its output goes to a pipe
whose reader is gone (its log stopped at "ready") and only a parent learns how a process ends:
when that Celery died later it was "crashed, exit status unknown" and never restarted. A new
supervisor is started with ``--adopt PID``: it retires the orphan (warm stop, so running tasks
finish; acks_late returns anything cut short to the queue) and runs the worker afresh, log and
crash restarts included. Restarting was chosen over re-adopting in place because the pipe cannot
be reattached to the log and no process but the parent can ``wait()`` for the exit status. The
worker's lock is tried without waiting, so two pollers (a CLI and the window) adopt it once.

**A worker that cannot reach its broker** (:func:`mark_off_broker`): the broker moved
(``broker start --new-port``) and the worker keeps retrying the address it was started with, or
the broker is down. Listed "online" on the new URL, it used to look healthy while consuming
nothing; now it carries ``off_broker`` (and the advisor's ``off_broker`` warning).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Container

from pooldesk.backend import proc
from pooldesk.backend.broker.resolve import BrokerConfig
from pooldesk.backend.redact import mask_url
from pooldesk.backend.workers import listing, process
from pooldesk.backend.workers.info import WorkerInfo
from pooldesk.backend.workers.records import RecordStore, WorkerBusy
from pooldesk.backend.workers.spec import WorkerSpec
from pooldesk.backend.workers.starting import celery_alive

LIVE_STATES = ("online", "starting", "stopping")


def orphaned(store: RecordStore, name: str) -> bool:
    """Celery runs, nobody asked it to stop, and its supervisor is gone."""
    record = store.load(name)
    if record is None or record.stop_requested_at is not None or not record.supervisor_pid:
        return False
    if proc.alive(record.supervisor_pid, record.supervisor_create_time):
        return False
    return celery_alive(store, name)


def adopt_orphans(
    store: RecordStore,
    busy: Container[str],
    broker: Callable[[WorkerSpec], BrokerConfig | None],
    restarts: int,
    window: float,
) -> dict[str, subprocess.Popen[bytes]]:
    """Start a new supervisor for each orphaned worker not in ``busy`` (stops under way);
    ``broker``: the config its supervisor gets (None: a project on its own broker).
    Returns the new supervisors by worker name."""
    adopted: dict[str, subprocess.Popen[bytes]] = {}
    for name in store.names():
        if name in busy or not orphaned(store, name):
            continue
        try:
            with store.lock(name, wait=False):
                record = store.load(name)
                pid = store.pid_info(name)
                if record is None or pid is None or not orphaned(store, name):
                    continue  # someone else adopted or stopped it meanwhile
                child = process.spawn(
                    record.spec, broker(record.spec), restarts, window, adopt=pid.celery_pid
                )
                record.supervisor_pid = child.pid
                record.supervisor_create_time = proc.create_time(child.pid)
                store.save(record)
                adopted[name] = child
        except WorkerBusy:
            continue  # being started, restarted or adopted by another process right now
    return adopted


def mark_off_broker(
    store: RecordStore,
    workers: list[WorkerInfo],
    broker_for: Callable[[WorkerSpec], BrokerConfig],
) -> None:
    """Set ``off_broker`` (and the address it is really on) on running local workers that
    cannot reach their broker. One quick ping per distinct broker."""
    down: dict[str, str | None] = {}
    for w in workers:
        if w.remote or w.state not in LIVE_STATES:
            continue
        record = store.load(w.name)
        if record is None:
            continue
        config = broker_for(record.spec)
        now = mask_url(config.broker_url)
        if record.broker and now and record.broker != now:
            w.broker = record.broker
            w.off_broker = (
                f"cannot reach its broker: started on {record.broker}, the broker is now at "
                f"{now}; restart it (pooldesk worker restart {w.name})"
            )
            continue
        key = config.broker_url or ""
        if key not in down:
            down[key] = listing.broker_down(config)
        if down[key]:
            w.off_broker = f"cannot reach its broker: {down[key]}"
