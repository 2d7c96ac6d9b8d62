"""The steps of every operation on a local worker, shared by requests and fixes.

:class:`Steps` holds what is under way (stops, watched starts, the requests they answer) and the
operations themselves; :class:`~.service.Operations` adds submitting, ticking and reporting.
Each step is the one place for its rule: ``start_spec`` checks (``preflight``) before it spawns;
``begin_restart`` checks too, then stops with the new spec to start afterwards (restart, resize
by restart, a fix's restart alike); ``resize_to`` decides live or restart (``can_resize_live``);
``free_name`` is the one free-name scheme (``workers.names``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pooldesk.backend.operations import fixes, masking, preflight, remote
from pooldesk.backend.operations.request import REFUSED, Outcome, Request, done, failed, pending
from pooldesk.backend.operations.texts import doing
from pooldesk.backend.operations.watch import EXIT_GRACE_S, Starts
from pooldesk.backend.workers.control import ControlError
from pooldesk.backend.workers.info import WorkerError, WorkerInfo
from pooldesk.backend.workers.manager import WorkerManager
from pooldesk.backend.workers.names import free_name
from pooldesk.backend.workers.spec import WorkerSpec, can_resize_live
from pooldesk.backend.workers.stopping import Mode

LOG_LINES_MAX = 100_000  # a log tail read at once (the window asks for at most 5,000)
Check = Callable[[WorkerSpec, str | None], object]  # returns the project's check, if any


@dataclass
class PendingStop:
    """A stop under way for a request; ``fail``: the stop undoes a late start, and the request
    ends failed with this text once it has stopped."""

    request: Request
    fail: str | None = None


class Steps:
    """What is under way, and the operations on local workers (see :class:`Operations`)."""

    def __init__(
        self,
        manager: WorkerManager,
        *,
        wait_for_lock: bool = False,
        exit_grace: float = EXIT_GRACE_S,
        check: Check = preflight.check,
    ) -> None:
        self.manager = manager
        self.wait_for_lock = wait_for_lock
        self.check = check
        self._starts = Starts(lambda: self.manager.stopper.system.now(), exit_grace)
        self._stops: dict[str, PendingStop] = {}
        self._requests: dict[str, Request] = {}  # id → a request still pending
        self._after: dict[str, Callable[[WorkerInfo], str]] = {}  # id → a step once online
        self._queued: list[Outcome] = []  # reported on the next tick

    # -- the operations ----------------------------------------------------------------------
    def _start(self, request: Request) -> Outcome:
        p = request.params
        fields = {k: v for k, v in p.items() if k not in _START_CONTROL}
        defaults = WorkerSpec(request.name).to_dict()  # what is not given: WorkerSpec's defaults
        spec = WorkerSpec.from_dict({**defaults, **fields, "name": request.name})
        if p.get("free_name"):
            spec = replace(spec, name=self.free_name(spec.name, keep=True))
        return self.start_spec(replace(request, name=spec.name), spec.validate())

    def _stop(self, request: Request) -> Outcome:
        mode: Mode = "cold" if request.params.get("cold") else "warm"
        return self.stop_as(request, mode, request.params.get("timeout"))

    def _stop_now(self, request: Request) -> Outcome:
        if not self.manager.stopper.hurry(request.name):
            raise WorkerError(f"{request.name} is not stopping")
        return done(request, f"{request.name}: not waiting for its running tasks any more.")

    def _restart(self, request: Request) -> Outcome:
        p = dict(request.params)
        for key in _RESTART_CONTROL:
            p.pop(key, None)
        changes = {k: v for k, v in p.items() if v is not None}
        for key in ("queues", "extra_args", "autoscale"):
            if key in changes:
                changes[key] = tuple(changes[key])
        spec = self.manager.restart_spec(request.name, **changes)
        return self.begin_restart(request, spec)

    def _resize(self, request: Request) -> Outcome:
        return self.resize_to(request, int(request.params["concurrency"]))

    # -- shared steps (also the fixes') ------------------------------------------------------
    def start_spec(self, request: Request, spec: WorkerSpec) -> Outcome:
        """Check, spawn, watch (``params.wait`` false: done once spawned). A project's worker
        started without queues consumes every queue its app's tasks route to, its default
        queue first (read from the check that runs here anyway), not a queue called "default"
        that none of its tasks may use."""
        checked = self.check(spec, self.manager.config.broker_url)
        app_queues = getattr(checked, "queues", None)
        if request.op == "start" and not request.params.get("queues") and app_queues:
            spec = replace(spec, queues=tuple(str(q) for q in app_queues)).validate()
        self.manager.start(spec, wait=False, block=self.wait_for_lock)
        self._requests[request.id] = request  # its name may be a free one picked here
        if request.params.get("wait", True) is False:
            info = self.manager.info(spec.name)
            return done(request, f"{spec.name} is {info.state}.", worker=info.to_json())
        return self._watch_start(request, spec.name)

    def stop_as(self, request: Request, mode: Mode, timeout: float | None) -> Outcome:
        """A stop request (warm or cold, ``timeout`` for the running tasks), reported when done;
        a request under way for the worker (a pending restart) is replaced by it."""
        self.manager.request_stop(request.name, mode, op=request.op, timeout=timeout)
        self._supersede(request)
        self._stops[request.name] = PendingStop(request)
        return pending(request, doing("stop", request.name))

    def resize_to(self, request: Request, concurrency: int) -> Outcome:
        """Live (``pool_grow``/``pool_shrink``) where ``can_resize_live`` says so, else a
        restart with the new concurrency: the one place that decides."""
        name = request.name
        if name in self.manager.stopper:
            raise WorkerError(f"{name} is stopping; resize it once it has started again")
        record = self.manager.store.load(name)
        spec = self.manager.restart_spec(name, concurrency=concurrency)  # refuses bad input
        assert record is not None  # restart_spec refused an unknown name
        delta = concurrency - record.spec.concurrency
        if delta and not can_resize_live(spec.pool, spec.autoscale, self.manager.info(name).state):
            return self.begin_restart(request, spec)
        if delta:  # none: nothing to do, whatever the pool
            control = self.manager.control_for(record.spec)
            try:
                if delta > 0:
                    control.grow(record.hostname, delta)
                else:
                    control.shrink(record.hostname, -delta)
            except ControlError as exc:
                raise WorkerError(str(exc)) from exc
            record.spec = spec
            self.manager.store.save(record)
        text = f"{name} resized to {concurrency} (live)."
        return done(request, text, concurrency=concurrency, method="live")

    def _queues(self, request: Request) -> Outcome:
        wanted = tuple(str(q) for q in request.params["queues"])
        info = remote.set_local_queues(self.manager, request.name, wanted)
        text = f"{request.name} now consumes {', '.join(wanted)} (changed live)."
        return done(request, text, queues=list(wanted), method="live", worker=info.to_json())

    def _logs(self, request: Request) -> Outcome:
        lines = max(1, min(int(request.params.get("lines", 50)), LOG_LINES_MAX))
        tail = self.manager.logs(request.name, lines)
        secrets = self._secrets(request.name)
        return done(request, f"{len(tail)} lines.", lines=masking.mask_lines(tail, secrets))

    def _forget(self, request: Request) -> Outcome:
        self.manager.forget(request.name)
        return done(request, f"{request.name} removed from the list.", forgotten=True)

    def _apply_fix(self, request: Request) -> Outcome:
        return fixes.apply(self, request)

    def free_name(self, base: str, keep: bool = False) -> str:
        """The one free-name scheme over this data directory's workers."""
        return free_name(base, self.manager.store.names(), keep)

    def begin_restart(self, request: Request, spec: WorkerSpec) -> Outcome:
        """Check, then (under the worker's lock) stop it with ``spec`` to start afterwards, or
        start ``spec`` now when it is not running. The same path for restart, resize and fix."""
        name = request.name
        if name in self.manager.stopper:
            raise WorkerError(f"{name} is already stopping; start it again once it has stopped")
        self.check(spec, self.manager.config.broker_url)
        if self.manager.request_restart(name, spec, op=request.op, block=self.wait_for_lock):
            return self._watch_start(request, spec.name)
        self._supersede(request)
        self._stops[name] = PendingStop(request)
        return pending(request, doing(request.op, name))

    def _watch_start(self, request: Request, name: str) -> Outcome:
        self._supersede(request, name)
        self._starts.watch(request.id, name, self._timeout(request))
        return pending(request, doing(request.op, name))

    def _supersede(self, request: Request, name: str | None = None) -> None:
        """A new request for a worker replaces the one under way (a stop cancels a pending
        restart's start): the old one ends with a note a window can leave unshown."""
        name = name or request.name
        old = [self._starts.drop(name)]
        stop = self._stops.pop(name, None)
        old.append(stop.request.id if stop else None)
        for key in old:
            earlier = self._requests.pop(key, None) if key else None
            if earlier is not None and earlier.id != request.id:
                text = f"{earlier.op} of {name} replaced by {request.op}."
                self._queued.append(failed(earlier, text, REFUSED, superseded_by=request.id))

    def watch_after(self, request: Request, step: Callable[[WorkerInfo], str]) -> None:
        """Run ``step`` once ``request``'s start is online; its text ends the report."""
        self._after[request.id] = step

    def _timeout(self, request: Request) -> float:
        value = request.params.get("timeout")
        return float(value) if value else float(self.manager.start_timeout)

    def _info(self, name: str) -> WorkerInfo | None:
        if self.manager.store.load(name) is None:
            return None
        try:
            return self.manager.info(name)
        except WorkerError:
            return None

    def _row(self, name: str) -> dict[str, Any] | None:
        info = self._info(name)
        return info.to_json() if info is not None else None

    def _secrets(self, name: str) -> list[str]:
        record = None
        with contextlib.suppress(Exception):
            record = self.manager.store.load(name)
        project = record.spec.project if record is not None else None
        urls: list[str | None] = []
        with contextlib.suppress(Exception):
            urls.append(self.manager.config.broker_url)
        return masking.secrets_for(project, *urls)

    def _masked(self, outcome: Outcome) -> Outcome:
        """The text and any log lines in the data, secrets masked."""
        secrets = self._secrets(outcome.name)
        data = dict(outcome.data)
        worker = data.get("worker")
        if isinstance(worker, dict) and worker.get("last_log"):
            data["worker"] = {**worker, "last_log": masking.mask_lines(worker["last_log"], secrets)}
        return replace(outcome, text=masking.mask(outcome.text, secrets), data=data)


_START_CONTROL = ("wait", "timeout", "stop_if_late", "free_name")
_RESTART_CONTROL = ("timeout", "stop_if_late")
