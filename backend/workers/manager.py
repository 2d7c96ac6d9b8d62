"""The worker manager: the mechanism under the operations API, over local and remote workers.

Local workers are the ones started from this ``$POOLDESK_HOME``: their records on disk survive
the process that started them, so a new window or a CLI call *adopts* them (same name, same
pid) instead of starting duplicates. Remote workers are whoever else answers on the broker.

Here: start under the worker's lock, stop and restart requests and their ticks, forget, the
list. Policy (the check before a start, resize live or by restart, queue changes, remote
commands, watching a start, what a caller is told) is ``backend.operations``, the one API of the
CLI, the window and the agent. Delegated: ``starting`` (a start's refusals and spawn),
``stopping`` (the stops under way; ``escalation`` their signals), ``listing`` (rows),
``brokers`` (which broker a worker is on), ``logs``, ``info`` (re-exported with
``WorkerError``).
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from pooldesk.backend import proc
from pooldesk.backend.advisor.model import Thresholds
from pooldesk.backend.broker.resolve import BrokerConfig
from pooldesk.backend.projects.brokers import own_broker
from pooldesk.backend.redact import mask_url
from pooldesk.backend.settings import Settings
from pooldesk.backend.workers import listing, logs, starting, upkeep
from pooldesk.backend.workers.brokers import WorkerBrokers
from pooldesk.backend.workers.control import Control
from pooldesk.backend.workers.info import WorkerError, WorkerInfo, node_name
from pooldesk.backend.workers.records import RecordStore, WorkerRecord
from pooldesk.backend.workers.resources import TreeSampler
from pooldesk.backend.workers.spec import WorkerSpec, changed
from pooldesk.backend.workers.states import Facts, TransitionCheck, WorkerState, derive
from pooldesk.backend.workers.stopping import Mode, StopEvent, Stopper

__all__ = [
    "WorkerError",
    "WorkerInfo",
    "WorkerManager",
    "node_name",
]


class WorkerManager:
    def __init__(
        self,
        config: BrokerConfig | None = None,
        store: RecordStore | None = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 60.0,
        restarts: int = 3,
        restart_window: float = 600.0,
    ) -> None:
        self.store = store or RecordStore()
        self.brokers = WorkerBrokers(config, self.store)
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.restarts = restarts  # automatic restarts of a crashed worker within the window
        self.restart_window = restart_window
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._sampler = TreeSampler()
        self.stopper = Stopper(self.store, stop_timeout)  # every stop under way, non-blocking
        self._remote_stops = listing.RemoteStops()
        self._transitions = TransitionCheck()
        self.problems: dict[str, str] = {}  # bad record files seen by the last all()
        self.adopted: list[str] = []  # workers re-supervised by the last all()

    @classmethod
    def from_settings(cls, cfg: Settings, config: BrokerConfig | None = None) -> WorkerManager:
        """Timeouts and the crash-loop limits from the user's settings: CLI and window alike."""
        th = Thresholds.from_settings(cfg.advisor)
        return cls(
            config=config,
            start_timeout=cfg.start_timeout,
            stop_timeout=cfg.stop_timeout,
            restarts=th.crash_loop_starts,
            restart_window=th.crash_loop_minutes * 60,
        )

    # -- brokers (backend.workers.brokers) ---------------------------------------------------
    @property
    def config(self) -> BrokerConfig:
        return self.brokers.config

    @property
    def control(self) -> Control:
        return self.brokers.control

    def broker_for(self, spec: WorkerSpec) -> BrokerConfig:
        return self.brokers.broker_for(spec)

    def control_for(self, spec: WorkerSpec) -> Control:
        return self.brokers.control_for(spec)

    def close(self) -> None:
        self.brokers.close()

    # -- local lifecycle ---------------------------------------------------------------------
    def start(
        self,
        spec: WorkerSpec,
        wait: bool = True,
        timeout: float | None = None,
        *,
        block: bool = True,
    ) -> WorkerInfo:
        """Start ``spec`` unless a worker of that name runs; one worker per name is guaranteed
        by the worker's lock (``RecordStore.lock``), held from the check to the saved record.

        ``wait``: until it answers ping; one that does not within ``timeout`` is stopped again
        (cold) and reported as an error. ``block=False``: refuse at once if the lock is held
        (a service thread must not freeze while a CLI restart waits for running tasks)."""
        spec.validate()
        with self.store.lock(spec.name, wait=block):
            self._start_locked(spec)
        if wait:
            return self._wait_or_undo(spec.name, timeout or self.start_timeout)
        return self.info(spec.name)

    def _start_locked(self, spec: WorkerSpec) -> None:
        """Check and spawn (``starting.start_locked``); the caller holds ``store.lock``."""
        starting.start_locked(
            self.store, self.brokers, spec, self.restarts, self.restart_window, self._children
        )

    def _wait_or_undo(self, name: str, timeout: float) -> WorkerInfo:
        try:
            return self.wait_ready(name, timeout)
        except WorkerError as exc:
            with contextlib.suppress(Exception):  # the message below is what matters
                self.stop(name, cold=True, timeout=0)
            raise WorkerError(f"{exc}; it was stopped again") from None

    def wait_ready(self, name: str, timeout: float) -> WorkerInfo:
        """Ready = answers ``ping``; a worker that exits first is reported crashed with its log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.info(name)
            if info.state in (WorkerState.ONLINE, WorkerState.CRASHED, WorkerState.STOPPED):
                return info
            time.sleep(0.1)
        info = self.info(name)
        if info.state == WorkerState.STARTING:
            raise WorkerError(
                f"worker {name!r} did not answer ping within {timeout:.0f} s; "
                f"last log line: {(info.last_log or ['(none)'])[-1]}"
            )
        return info

    # -- stopping (backend.workers.stopping owns the escalation) ------------------------------
    def stop(self, name: str, cold: bool = False, timeout: float | None = None) -> WorkerInfo:
        """Stop and wait (warm up to ``timeout``, then cold, then kill): a request, then ticks
        until it is done — the same stopper the window ticks without waiting."""
        self.request_stop(name, "cold" if cold else "warm", timeout=timeout)
        event = self.stopper.run(name)
        if event.kind == "failed":
            raise WorkerError(f"stopping {name} failed: {event.text}")
        return self.finish_stop(name)

    def request_stop(
        self,
        name: str,
        mode: Mode = "warm",
        then: WorkerSpec | None = None,
        *,
        op: str = "stop",
        timeout: float | None = None,
    ) -> None:
        """Ask ``name`` to stop and return at once; :meth:`tick_stops` advances it. ``then``:
        the spec to start once it has stopped (a restart); ``op``: what asked (in events)."""
        self._record(name)  # a person's error for an unknown name
        self.stopper.request(
            name, mode, then, op=op, timeout=self.stop_timeout if timeout is None else timeout
        )

    def tick_stops(self) -> list[StopEvent]:
        """Advance every stop under way without blocking (the window calls it on each refresh).

        A finished stop is ``stopped`` with its sentence ("w1 stopped (after its running tasks
        finished)."); a restart's spec (``then``) is started here, without waiting for it to
        answer (watch it come online); a worker that is not stopped afterwards, a start that
        fails, or a sequence that raised is ``failed`` with the reason.
        """
        events: list[StopEvent] = []
        for event in self.stopper.tick():
            if event.kind != "stopped":
                events.append(event)
                continue
            try:
                info = self.finish_stop(event.name)
                if event.then is not None:
                    self.start(event.then, wait=False, block=False)
                elif info.state != WorkerState.STOPPED:
                    raise WorkerError(f"{event.name} is {info.state} after the stop request")
            except Exception as exc:
                text = str(exc) or type(exc).__name__
                events.append(replace(event, kind="failed", text=text, error=exc))
            else:
                events.append(event)
        return events

    def finish_stop(self, name: str) -> WorkerInfo:
        """After a stop: reap our own child (no zombie) and report the worker as it is now."""
        child = self._children.pop(name, None)
        if child is not None:
            child.poll()
        return self.info(name)

    def request_restart(
        self, name: str, spec: WorkerSpec, op: str = "restart", *, block: bool = False
    ) -> bool:
        """Under the worker's lock, a running worker gets a stop request whose stopper starts
        ``spec`` (:meth:`tick_stops`), a stopped one is started now; True when started now.
        ``block`` (the CLI's way): wait for the lock and hold it through a blocking stop and
        the start, so two restarts at once run one after the other."""
        if name in self.stopper:
            raise WorkerError(f"{name} is already stopping; start it again once it has stopped")
        with self.store.lock(name, wait=block):  # not blocking: never freeze a service thread
            if self.is_running(name) and not block:
                self.request_stop(name, then=spec, op=op)
                return False
            if self.is_running(name):
                self.stop(name)
            self._start_locked(spec)
            return True

    def restart_spec(
        self,
        name: str,
        pool: str | None = None,
        concurrency: int | None = None,
        queues: tuple[str, ...] | None = None,
        **changes: Any,
    ) -> WorkerSpec:
        """The spec a restart starts, checked before anything is stopped."""
        spec = changed(self._record(name).spec, pool, concurrency, queues, **changes)
        return spec.validate()  # refuse before stopping anything

    def is_running(self, name: str) -> bool:
        """Celery or its supervisor is up (so a restart must stop it first)."""
        record = self._record(name)
        return starting.celery_alive(self.store, name) or proc.alive(record.supervisor_pid)

    def forget(self, name: str) -> None:
        """Drop a stopped or crashed worker from the list."""
        self._record(name)  # a person's error for an unknown name
        if starting.celery_alive(self.store, name):
            raise WorkerError(f"worker {name!r} is running; stop it first")
        self.store.remove(name)
        self._transitions.forget(name)

    # -- remote control ----------------------------------------------------------------------
    def remote_shutdown(self, hostname: str) -> None:
        """Celery's broadcast shutdown (warm); the row shows stopping until it is gone."""
        self.brokers.control_listing(hostname).shutdown(hostname)
        self._remote_stops.sent(hostname)

    def remote_stopping(self) -> list[str]:
        """Remote hostnames sent a shutdown and still listed (scan for them sooner)."""
        return self._remote_stops.hosts()

    # -- queries -----------------------------------------------------------------------------
    def info(self, name: str, ping: bool = True) -> WorkerInfo:
        record = self._record(name)
        pid_info = self.store.pid_info(name)
        exit_info = self.store.exit_info(name)
        alive = starting.celery_alive(self.store, name)
        # Supervisor up: Celery's pid not written yet (starting), or Celery just ended and its
        # exit status is being recorded: not a crash (yet). A stop this process carries out ends
        # when the stopper says so, not a refresh earlier ("stopped" comes with its report).
        supervised = proc.alive(record.supervisor_pid, record.supervisor_create_time)
        if name in self.stopper or (exit_info is None and supervised):
            alive = True
        run_started = pid_info.started_at if pid_info and pid_info.started_at else 0.0
        answered = record.ready_at is not None and record.ready_at >= run_started
        waiting = alive and not answered and not record.stop_requested_at
        if waiting and ping and self.control_for(record.spec).ping([record.hostname], timeout=0.5):
            record.ready_at = time.time()
            self.store.save(record)
            answered = True
        facts = Facts(
            process_alive=alive,
            stop_requested=record.stop_requested_at is not None,
            answered_ping=answered,
            exit_code=exit_info.returncode if exit_info else None,
            exited_seen=exit_info is not None,
        )
        state = self._transitions.observe(name, derive(facts), facts)
        return listing.local_row(
            record,
            pid_info,
            exit_info,
            state,
            alive=alive,
            progress=self.stopper.progress(name),
            broker=mask_url(self.broker_for(record.spec).broker_url),
            restarts=self.restarts,
            restart_window=self.restart_window,
            log_path=self.store.log_path(name),
            sampler=self._sampler,
        )

    def all(self, include_remote: bool = True, remote_timeout: float = 1.0) -> list[WorkerInfo]:
        """Every worker: local ones first, then remote ones. Whoever lists (the CLI, the
        window's refresh) also re-supervises a worker whose supervisor was killed
        (:meth:`adopt_orphans`); a bad record file costs its worker a ``problem`` line
        (``self.problems``), never the list."""
        self.adopted = self.adopt_orphans()
        self.problems = self.store.problems()
        local = [self.info(name) for name in self.store.names() if self.store.load(name)]
        if include_remote:
            by_host = {w.hostname: w for w in local}
            for project, control in self.brokers.sources():
                listing.add_remote(local, by_host, project, control, remote_timeout)
            local = self._remote_stops.mark(local)
        upkeep.mark_off_broker(self.store, local, self.broker_for)
        for w in local:
            bad = self.problems.get(w.name)
            if bad and (not w.remote or w.hostname == node_name(w.name)):
                w.problem = bad + (
                    "; listed as remote until it is fixed or removed" if w.remote else ""
                )
        return local

    def adopt_orphans(self) -> list[str]:
        """Re-supervise workers whose supervisor was killed (``upkeep.adopt_orphans``)."""
        adopted = upkeep.adopt_orphans(
            self.store,
            self.stopper,
            lambda spec: None if own_broker(spec.project) is not None else self.brokers.config,
            self.restarts,
            self.restart_window,
        )
        self._children.update(adopted)
        return sorted(adopted)

    def prime_cpu(self) -> None:
        """CPU % needs two readings: call before a short sleep and ``list()`` (the CLI does)."""
        for name in self.store.names():
            pid = self.store.pid_info(name)
            if pid and proc.alive(pid.celery_pid, pid.create_time):
                self._sampler.sample(pid.celery_pid)

    def logs(self, name: str, lines: int = 50) -> list[str]:
        self._record(name)
        return logs.tail(self.store.log_path(name), lines)

    def follow(self, name: str, poll: float = 0.25) -> Iterator[str]:
        """``tail -f`` of the worker's log that survives rotation."""
        return logs.follow(self.store.log_path(name), poll)

    # -- helpers -----------------------------------------------------------------------------
    def _record(self, name: str) -> WorkerRecord:
        record = self.store.load(name)
        if record is None:
            raise WorkerError(f"no worker named {name!r} (see 'pooldesk worker list')")
        return record
