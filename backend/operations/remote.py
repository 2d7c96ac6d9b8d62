"""Operations on a Celery node of another machine (``NAME@HOST``), through its broker alone.

Such a worker has no record here: Pooldesk did not start it and cannot start or restart it, read
its log or forget it. It can be asked to stop (Celery's warm ``shutdown``), to grow or shrink its
pool (``pool_grow``/``pool_shrink``), and to consume other queues (``add``/``cancel_consumer``).
A request whose name has an ``@`` and is not a local record comes here; the rest are refused.
Also here: the live queue change of a local worker (the same consumer commands).
"""

from __future__ import annotations

from dataclasses import replace

from pooldesk.backend.operations.request import Outcome, Request, done
from pooldesk.backend.workers.brokers import switch_queues
from pooldesk.backend.workers.control import ControlError
from pooldesk.backend.workers.info import WorkerError, WorkerInfo
from pooldesk.backend.workers.manager import WorkerManager


def is_remote(manager: WorkerManager, request: Request) -> bool:
    return (
        "@" in request.name and request.op != "start" and manager.store.load(request.name) is None
    )


def submit(manager: WorkerManager, request: Request) -> Outcome:
    name = request.name
    if request.op == "stop":
        manager.remote_shutdown(name)
        text = f"Shutdown sent to {name}: it exits once its running tasks finish."
        return done(request, text, remote=True)
    if request.op == "resize":
        concurrency = int(request.params["concurrency"])
        current = request.params.get("current")
        resize(manager, name, concurrency, current if isinstance(current, int) else None)
        text = f"{name} resized to {concurrency} (live)."
        return done(request, text, concurrency=concurrency, method="live", remote=True)
    if request.op == "queues":
        wanted = tuple(str(q) for q in request.params["queues"])
        manager.brokers.remote_set_queues(name, wanted)
        text = f"{name} now consumes {', '.join(wanted)} (changed live)."
        return done(request, text, queues=list(wanted), method="live", remote=True)
    raise WorkerError(
        f"{name} runs on another machine: through the broker it can only be stopped, resized "
        "or given other queues"
    )


def resize(manager: WorkerManager, hostname: str, concurrency: int, current: int | None) -> None:
    """Grow or shrink a remote worker's pool to ``concurrency``; ``current``: its size as the
    caller last saw it (the window's scan), else asked from the broker."""
    if concurrency < 1:
        raise WorkerError(f"concurrency {concurrency}: must be 1 or more")
    control = manager.brokers.control_listing(hostname)
    if current is None:
        found = {w.hostname: w for w in control.remote_workers(timeout=1.0)}
        worker = found.get(hostname)
        if worker is None or not worker.concurrency:
            raise WorkerError(f"{hostname} is not a worker on this broker")
        current = worker.concurrency
    delta = concurrency - current
    try:
        if delta > 0:
            control.grow(hostname, delta)
        elif delta < 0:
            control.shrink(hostname, -delta)
    except ControlError as exc:
        raise WorkerError(str(exc)) from exc


def set_local_queues(manager: WorkerManager, name: str, queues: tuple[str, ...]) -> WorkerInfo:
    """Change the queues a local worker consumes, live, and keep them in its record."""
    record = manager.store.load(name)
    if record is None:
        raise WorkerError(f"no worker named {name!r} (see 'pooldesk worker list')")
    spec = replace(record.spec, queues=tuple(queues)).validate()
    switch_queues(
        manager.control_for(record.spec), record.hostname, list(record.spec.queues), spec.queues
    )
    record.spec = spec
    manager.store.save(record)
    return manager.info(name)
