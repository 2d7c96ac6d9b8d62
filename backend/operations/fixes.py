"""An advisor's fix (``advisor.model.Fix``: ``kind`` + ``params``) as the operation it stands for.

A fix is not an operation of its own: "restart w1 as prefork × 4" is a restart, "resize to 8" a
resize, "stop" a stop, "start a prefork worker for these queues (and take them off the trapped
one)" a start followed, once it is online, by a queue change. So each kind runs the same path as
the request it stands for — the project check included, which the window's Fix… used to skip —
and reports under the fix's own request (op ``apply_fix``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from pooldesk.backend.operations.request import Outcome, Request, RequestError, done
from pooldesk.backend.workers.info import WorkerInfo
from pooldesk.backend.workers.manager import WorkerManager
from pooldesk.backend.workers.spec import WorkerSpec
from pooldesk.backend.workers.stopping import Mode


class Operations(Protocol):
    """The steps of ``service.Operations`` a fix runs (a protocol: no import cycle)."""

    manager: WorkerManager

    def begin_restart(self, request: Request, spec: WorkerSpec) -> Outcome: ...
    def resize_to(self, request: Request, concurrency: int) -> Outcome: ...
    def stop_as(self, request: Request, mode: Mode, timeout: float | None) -> Outcome: ...
    def start_spec(self, request: Request, spec: WorkerSpec) -> Outcome: ...
    def free_name(self, base: str, keep: bool = False) -> str: ...
    def watch_after(self, request: Request, step: Callable[[WorkerInfo], str]) -> None: ...


KINDS = ("restart_worker", "resize_worker", "stop_worker", "start_worker", "start_broker")


def apply(ops: Operations, request: Request) -> Outcome:
    kind = request.params["kind"]
    p: dict[str, Any] = dict(request.params.get("params") or {})
    manager = ops.manager
    if kind == "restart_worker":
        spec = manager.restart_spec(
            request.name, pool=p.get("pool"), concurrency=_int(p.get("concurrency"))
        )
        return ops.begin_restart(request, spec)
    if kind == "resize_worker":
        concurrency = _int(p.get("concurrency"))
        if concurrency is None:
            raise RequestError("params.params.concurrency: required for resize_worker")
        return ops.resize_to(request, concurrency)
    if kind == "stop_worker":
        return ops.stop_as(request, "warm", None)
    if kind == "start_worker":
        return _start_worker(ops, request, p)
    if kind == "start_broker":
        from pooldesk.backend.broker.managed import ManagedBroker

        ManagedBroker().start()
        return done(request, "Managed broker started.")
    raise RequestError(f"fix {kind!r}: choose one of {', '.join(KINDS)}")


def _start_worker(ops: Operations, request: Request, p: dict[str, Any]) -> Outcome:
    """A new worker for some queues, the same app (and project) as the one it stands beside
    (``like``); once online, ``remove_from`` stops consuming the queues it took over."""
    manager = ops.manager
    spec = WorkerSpec(
        name=request.name,
        pool=str(p.get("pool", "prefork")),
        concurrency=_int(p.get("concurrency")) or 1,
        queues=tuple(str(q) for q in p.get("queues") or ()),
    )
    like = manager.store.load(p["like"]) if p.get("like") else None
    if like is not None:
        spec = replace(
            like.spec,
            name=spec.name,
            pool=spec.pool,
            concurrency=spec.concurrency,
            queues=spec.queues,
            autoscale=None,
        )
    spec = replace(spec, name=ops.free_name(spec.name, keep=True)).validate()
    source = str(p["remove_from"]) if p.get("remove_from") else None
    request = replace(request, name=spec.name)
    outcome = ops.start_spec(request, spec)
    if source:
        moved = set(spec.queues)

        def take_over(_info: WorkerInfo) -> str:
            rest = _remaining(ops, source, moved)
            return f"{source} now consumes {', '.join(rest)}"

        ops.watch_after(request, take_over)
    return outcome


def _remaining(ops: Operations, source: str, moved: set[str]) -> tuple[str, ...]:
    from pooldesk.backend.operations import remote

    manager = ops.manager
    record = manager.store.load(source)
    if record is not None:
        rest = tuple(q for q in record.spec.queues if q not in moved)
        remote.set_local_queues(manager, source, rest)
        return rest
    found = {w.hostname: w for w in manager.all(include_remote=True)}  # NAME@HOST elsewhere
    if source not in found:
        raise RequestError(f"{source} is not a worker on this broker any more")
    rest = tuple(q for q in found[source].queues if q not in moved)
    manager.brokers.remote_set_queues(source, rest)
    return rest


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RequestError(f"{value!r}: not a whole number") from None
