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

from pooldesk.backend.advisor.model import Thresholds
from pooldesk.backend.broker.resolve import BrokerConfig
from pooldesk.backend.operations import remote
from pooldesk.backend.operations.request import (
    REFUSED,
    TIMEOUT,
    Outcome,
    Request,
    done,
    failed,
    pending,
)
from pooldesk.backend.operations.steps import PendingStop, Steps
from pooldesk.backend.operations.texts import doing, message, reason_for
from pooldesk.backend.operations.watch import Ended
from pooldesk.backend.settings import Settings
from pooldesk.backend.workers.info import WorkerError, WorkerInfo
from pooldesk.backend.workers.manager import WorkerManager
from pooldesk.backend.workers.records import RecordStore
from pooldesk.backend.workers.reports import ready_text, start_failure
from pooldesk.backend.workers.stopping import StopEvent


class Operations(Steps):
    """The operations API over one :class:`WorkerManager` (used from one thread at a time).

    ``wait_for_lock`` (the CLI's way): a start or restart waits while another Pooldesk process
    holds the worker's lock, and a restart holds it through its (blocking) stop and its start,
    so two restarts at once run one after the other; ``submit`` may then block. Otherwise (the
    window's and agent's way: their thread must never freeze) a held lock refuses at once.
    ``check``: the pre-start check (a seam for tests).
    Time comes from the manager's stopping seam (``manager.stopper.system``)."""

    @classmethod
    def from_settings(cls, settings: Settings, config: BrokerConfig | None = None) -> Operations:
        """Over a manager with the user's timeouts and crash-loop limits (window and agent)."""
        return cls(WorkerManager.from_settings(settings, config))

    def configure(self, settings: Settings) -> None:
        """Settings changed: timeouts and crash-loop limits apply to the next start or stop."""
        limits = Thresholds.from_settings(settings.advisor)
        self.manager.start_timeout = settings.start_timeout
        self.manager.stop_timeout = settings.stop_timeout
        self.manager.restarts = limits.crash_loop_starts
        self.manager.restart_window = limits.crash_loop_minutes * 60

    def close(self) -> None:
        self.manager.close()

    # -- views -------------------------------------------------------------------------------
    def workers(self, include_remote: bool = True, remote_timeout: float = 1.0) -> list[WorkerInfo]:
        """Every worker (``WorkerManager.all``: adopts orphans, marks off-broker ones)."""
        return self.manager.all(include_remote=include_remote, remote_timeout=remote_timeout)

    def remote_stopping(self) -> list[str]:
        """Remote nodes sent a shutdown and still listed (scan for them sooner)."""
        return self.manager.remote_stopping()

    @property
    def store(self) -> RecordStore:
        return self.manager.store

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
        """Carry out ``request`` as far as can be done now; never raises for a bad request.
        A request whose id is still pending (delivered twice) is not carried out again."""
        if request.id in self._requests:
            return pending(request, doing(request.op, request.name), duplicate=True)
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
            how = {"method": "restart", "concurrency": info.concurrency}  # a resize's end
            return self._final(done(request, text, worker=row, **how))
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
        self._stops[info.name] = PendingStop(request, fail=text)
        return pending(request, f"Stopping {info.name} again…")

    def _final(self, outcome: Outcome) -> Outcome:
        self._requests.pop(outcome.id, None)
        return outcome


def _starts_new(request: Request) -> bool:
    return request.op == "start" or (
        request.op == "apply_fix" and request.params.get("kind") == "start_worker"
    )
