"""One way to operate a worker, for every caller: the CLI, the window's service and the agent.

``submit(request)`` returns at once with an :class:`~.request.Outcome`: refused (``failed``,
with the reason, nothing changed), ``done`` (a quick operation: logs, forget, queues, a live
resize, a remote command) or ``pending`` (a start, stop or restart under way). ``tick()``
advances what is under way — the stop escalation (``WorkerManager.tick_stops``), the start that
ends a restart, the watch of every start until it answers ping, crashes or runs late — and
returns the outcomes that changed. ``run(request)`` is submit + ticks until the end (the CLI's
way). The window calls ``submit`` from its service thread and ``tick`` on each refresh; the agent
does the same with requests that arrived as JSON.

What used to be written twice lives here once: the project check before every start (start,
restart, resize by restart, a fix's restart: ``preflight``), the live-or-restart decision of a
resize (``can_resize_live``), the free-name scheme (``workers.names``), the pending-start reports
(``watch``), and the masking of secrets in every text returned (``masking``). A name with ``@``
that is not a local record is a Celery node on the broker (another machine): stop, resize and
queues go to it through the broker (``remote``); anything else is refused.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pooldesk.backend.operations import fixes, masking, preflight, remote
from pooldesk.backend.operations.request import (
    ERROR,
    INVALID,
    REFUSED,
    TIMEOUT,
    Outcome,
    Request,
    RequestError,
    done,
    failed,
    pending,
)
from pooldesk.backend.operations.watch import EXIT_GRACE_S, Ended, Starts
from pooldesk.backend.workers.control import ControlError
from pooldesk.backend.workers.info import WorkerError, WorkerInfo
from pooldesk.backend.workers.manager import WorkerManager
from pooldesk.backend.workers.names import free_name
from pooldesk.backend.workers.reports import ready_text, start_failure
from pooldesk.backend.workers.spec import SpecError, WorkerSpec, can_resize_live
from pooldesk.backend.workers.stopping import Mode, StopEvent

LOG_LINES_MAX = 100_000  # a log tail read at once (the window asks for at most 5,000)
DOING = {
    "start": "Starting",
    "stop": "Stopping",
    "stop_now": "Not waiting for the running tasks of",
    "restart": "Restarting",
    "resize": "Resizing",
    "queues": "Changing the queues of",
    "logs": "Reading the log of",
    "forget": "Forgetting",
    "apply_fix": "Applying the fix to",
}
Check = Callable[[WorkerSpec, str | None], None]


def doing(op: str, name: str) -> str:
    """ "Stopping w1…": what a pending request is doing, for a status line."""
    return f"{DOING.get(op, op.capitalize())} {name}…"


@dataclass
class _Stop:
    """A stop under way for a request; ``fail``: the stop undoes a late start, and the request
    ends failed with this text once it has stopped."""

    request: Request
    fail: str | None = None


def reason_for(exc: BaseException) -> str:
    """How a failure is classed: bad input (exit 2 in the CLI), refused, or an error."""
    from pooldesk.backend.broker.errors import BrokerError
    from pooldesk.backend.projects.model import ProjectError

    if isinstance(exc, SpecError | ProjectError | RequestError):
        return INVALID
    if isinstance(exc, WorkerError | BrokerError | ControlError):
        return REFUSED
    return ERROR


def message(exc: BaseException) -> str:
    """An exception as a sentence: its message; an unexpected one keeps its type in front."""
    text = str(exc).strip() or type(exc).__name__
    return (
        text
        if reason_for(exc) != ERROR or isinstance(exc, OSError)
        else f"{type(exc).__name__}: {text}"
    )


class Operations:
    """The operations API over one :class:`WorkerManager` (used from one thread at a time).

    ``wait_for_lock``: a start or restart waits while another Pooldesk process holds the
    worker's lock (the CLI's way) instead of being refused at once (the window's and agent's
    way: their thread must never freeze). ``check``: the pre-start check (a seam for tests).
    Time comes from the manager's stopping seam (``manager.stopper.system``)."""

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
        self._stops: dict[str, _Stop] = {}
        self._requests: dict[str, Request] = {}  # id → a request still pending
        self._after: dict[str, Callable[[WorkerInfo], str]] = {}  # id → a step once online
        self._queued: list[Outcome] = []  # reported on the next tick

    # -- views -------------------------------------------------------------------------------
    def pending(self) -> dict[str, str]:
        """Requests under way: worker name → op (starts watched, stops and restarts)."""
        out = {name: stop.request.op for name, stop in self._stops.items()}
        for name in self._starts.names():
            key = self._starts.key(name)
            if key in self._requests:
                out[name] = self._requests[key].op
        return out

    def stopping(self) -> dict[str, str]:
        """Stops under way: name → progress ("waiting for tasks, 12 of 60 s")."""
        return self.manager.stopper.stopping()

    def busy(self) -> bool:
        """Something to watch: tick soon."""
        return bool(self._stops or self._starts.names() or self.manager.stopper.stopping())

    # -- requests ----------------------------------------------------------------------------
    def submit(self, request: Request) -> Outcome:
        """Carry out ``request`` as far as can be done now; never raises for a bad request."""
        try:
            if remote.is_remote(self.manager, request):
                outcome = remote.submit(self.manager, request)
            else:
                outcome = getattr(self, f"_{request.op}")(request)
        except Exception as exc:
            outcome = failed(request, message(exc), reason_for(exc))
        if outcome.state == "pending":
            self._requests.setdefault(request.id, request)
        return self._masked(outcome)

    def run(self, request: Request, timeout: float | None = None, poll: float = 0.1) -> Outcome:
        """Submit, then tick until ``request`` has ended (blocking: the CLI's way). ``timeout``:
        give up watching after this long (the operation itself goes on)."""
        system = self.manager.stopper.system
        outcome = self.submit(request)
        deadline = None if timeout is None else system.now() + timeout
        while not outcome.final:
            for item in self.tick():
                if item.id == request.id and item.final:
                    return item
            if deadline is not None and system.now() > deadline:
                text = f"{request.name}: no answer within {timeout:.0f} s; it is still under way"
                return failed(request, text, TIMEOUT)
            system.sleep(poll)
        return outcome

    # -- ticking -----------------------------------------------------------------------------
    def tick(self, rows: Callable[[], Sequence[WorkerInfo]] | None = None) -> list[Outcome]:
        """Advance everything under way; the outcomes that changed (final ones and progress).

        ``rows``: the caller's own listing (the window lists every refresh anyway), called after
        the stops have advanced; pending starts are judged from its rows instead of a second
        look at each worker."""
        out, self._queued = self._queued, []
        for event in self.manager.tick_stops():
            out.extend(self._stop_event(event))
        listed = {w.name: w for w in rows() if not w.remote} if rows is not None else None
        looked: dict[str, WorkerInfo | None] = {}
        for name in self._starts.names():
            if listed is not None and name in listed:
                looked[name] = listed[name]
            else:
                looked[name] = self._info(name)
        out.extend(self._ended(end) for end in self._starts.report(looked))
        return [self._masked(o) for o in out]

    def _stop_event(self, event: StopEvent) -> list[Outcome]:
        stop = self._stops.get(event.name)
        if stop is None:  # a stop this API did not ask for (the manager's own blocking stop)
            return []
        request = stop.request
        if event.kind in ("progress", "escalated"):
            return [pending(request, event.text, progress=event.text)]
        del self._stops[event.name]
        if event.kind == "failed":
            error = event.error or WorkerError(event.text)
            return [self._final(failed(request, message(error), reason_for(error)))]
        if stop.fail is not None:
            return [self._final(failed(request, stop.fail, TIMEOUT, worker=self._row(event.name)))]
        if event.then is not None:  # the stopper started the new spec: watch it come online
            self._starts.watch(request.id, event.then.name, self._timeout(request))
            return []
        return [self._final(done(request, event.text, worker=self._row(event.name)))]

    def _ended(self, end: Ended) -> Outcome:
        request = self._requests.get(end.key) or Request("start", end.name, id=end.key)
        info = end.info
        row = info.to_json() if info is not None else None
        if end.how == "online" and info is not None:
            text = ready_text("start" if _starts_new(request) else "restart", info)
            after = self._after.pop(request.id, None)
            if after is not None:
                try:
                    text = f"{text[:-1]}; {after(info)}."
                except Exception as exc:
                    return self._final(failed(request, f"{text} {message(exc)}", reason_for(exc)))
            return self._final(done(request, text, worker=row))
        self._after.pop(request.id, None)
        if end.how == "gone" or info is None:
            text = f"{end.name} is no longer in the list."
            return self._final(failed(request, text, REFUSED))
        if end.how == "late":
            text = f"{end.name} did not answer ping in time; it is still {info.state}."
            if request.params.get("stop_if_late"):
                return self._undo_late(request, info) or self._final(failed(request, text, TIMEOUT))
            return self._final(failed(request, text, TIMEOUT, worker=row))
        if not info.last_log:
            with contextlib.suppress(Exception):
                info.last_log = self.manager.logs(end.name, 15)
                row = info.to_json()
        return self._final(failed(request, start_failure(info), "crashed", worker=row))

    def _undo_late(self, request: Request, info: WorkerInfo) -> Outcome | None:
        """The CLI's promise: a worker not ready in time is stopped again (cold), and the
        request fails once it has stopped."""
        timeout = self._timeout(request)
        last = (info.last_log or ["(none)"])[-1]
        text = (
            f"worker {info.name!r} did not answer ping within {timeout:.0f} s; "
            f"last log line: {last}; it was stopped again"
        )
        try:
            self.manager.request_stop(info.name, "cold", op=request.op, timeout=0)
        except Exception:
            return None
        self._stops[info.name] = _Stop(request, fail=text)
        return pending(request, f"Stopping {info.name} again…")

    def _final(self, outcome: Outcome) -> Outcome:
        self._requests.pop(outcome.id, None)
        return outcome

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
        """Check, spawn, watch (``params.wait`` false: done once spawned)."""
        self.check(spec, self.manager.config.broker_url)
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
        self._stops[request.name] = _Stop(request)
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
        state = self.manager.info(name).state if delta else "online"
        if not can_resize_live(spec.pool, spec.autoscale, state):
            return self.begin_restart(request, spec)
        if delta:
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
        if self.manager.request_restart(name, spec, op=request.op):
            return self._watch_start(request, spec.name)
        self._supersede(request)
        self._stops[name] = _Stop(request)
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


def _starts_new(request: Request) -> bool:
    return request.op == "start" or (
        request.op == "apply_fix" and request.params.get("kind") == "start_worker"
    )
