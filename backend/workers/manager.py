"""The worker manager: one API for the window and the CLI over local and remote workers.

Local workers are the ones started from this ``$POOLDESK_HOME``: their records on disk survive
the process that started them, so a new window or a CLI call *adopts* them (same name, same
pid) instead of starting duplicates. Remote workers are whoever else answers on the broker;
they are controlled through it (shutdown, grow/shrink, queues) and marked as remote.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from backend import proc
from backend.advisor.model import Thresholds
from backend.broker.resolve import BrokerConfig, current_config, ensure_broker
from backend.fsutil import tail_lines
from backend.projects.brokers import own_broker
from backend.projects.model import DEMO
from backend.redact import mask_url
from backend.settings import Settings
from backend.workers import process
from backend.workers.control import Control, ControlError
from backend.workers.project_controls import ProjectControls
from backend.workers.records import RecordStore, WorkerRecord
from backend.workers.resources import TreeSampler
from backend.workers.spec import DEFAULT_APP, SpecError, WorkerSpec
from backend.workers.states import Facts, WorkerState, derive, describe_exit


class WorkerError(RuntimeError):
    """A request that cannot be carried out, phrased for a person."""


@dataclass
class WorkerInfo:
    name: str
    hostname: str
    pid: int | None
    pool: str | None
    concurrency: int | None
    queues: list[str]
    state: str
    remote: bool
    cpu_percent: float | None = None
    memory_bytes: int | None = None
    children: int | None = None
    started_at: float | None = None
    ready_seconds: float | None = None
    exit: str | None = None  # "exit code 1" / "killed by SIGKILL" for a crashed worker
    last_log: list[str] = field(default_factory=list)
    autoscale: list[int] | None = None
    active: int | None = None
    processed: int | None = None
    starts: list[float] = field(default_factory=list)  # start times, for the crash-loop rule
    crashes: int = 0  # crashes the supervisor counted in its window
    gave_up: bool = False  # crash loop: no more automatic restarts
    progress: str | None = None  # an operation under way, e.g. a stop waiting for its tasks
    project: str | None = None  # "demo", a saved project's name, or None (an --app of ours)
    broker: str | None = None  # the broker it is on, masked

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ResizeResult:
    name: str
    concurrency: int
    method: str  # "live" (pool_grow/pool_shrink) or "restart"


LIVE_RESIZE_POOLS = ("prefork", "gevent")


def node_name(name: str) -> str:
    """What ``-n NAME@%h`` expands to inside Celery."""
    return f"{name}@{socket.gethostname()}"


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
        self._config = config
        self.store = store or RecordStore()
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.restarts = restarts  # automatic restarts of a crashed worker within the window
        self.restart_window = restart_window
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._sampler = TreeSampler()
        self._control: Control | None = None
        self._project_controls = ProjectControls()  # one per distinct project broker

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

    # -- broker ------------------------------------------------------------------------------
    @property
    def config(self) -> BrokerConfig:
        if self._config is None or not self._config.broker_url:
            self._config = current_config()
        return self._config

    def _ensure_broker(self) -> BrokerConfig:
        if self._config is None or not self._config.broker_url or self._config.managed:
            self._config = ensure_broker()
            if self._control is not None and self._control.config != self._config:
                self._control.close()
                self._control = None
        return self._config

    @property
    def control(self) -> Control:
        if self._control is None:
            self._control = Control(self.config)
        return self._control

    def close(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        self._project_controls.close()

    # -- brokers of projects -----------------------------------------------------------------
    def broker_for(self, spec: WorkerSpec) -> BrokerConfig:
        """The broker this worker is on: its project's own, else Pooldesk's."""
        own = own_broker(spec.project)
        return own if own is not None else self.config

    def control_for(self, spec: WorkerSpec) -> Control:
        """Remote control on the worker's own broker (one connection per distinct broker)."""
        return self._project_controls.for_spec(spec) or self.control

    def _sources(self) -> list[tuple[str | None, Control]]:
        """Every broker in use, with the project it belongs to (None: Pooldesk's broker)."""
        mine: list[tuple[str | None, Control]] = [(None, self.control)]
        return (mine if self.config.broker_url else []) + list(
            self._project_controls.in_use(self.store)
        )

    def _control_listing(self, hostname: str) -> Control:
        """The control of the broker where ``hostname`` answers (commands go nowhere else)."""
        for _, control in self._sources():
            if hostname in {w.hostname for w in control.remote_workers(timeout=1.0)}:
                return control
        raise WorkerError(f"{hostname} is not a worker on this broker")

    # -- local lifecycle ---------------------------------------------------------------------
    def start(
        self, spec: WorkerSpec, wait: bool = True, timeout: float | None = None
    ) -> WorkerInfo:
        spec.validate()
        record = self.store.load(spec.name)
        if record is not None and self._celery_alive(spec.name, record):
            pid = self._celery_pid(spec.name)
            raise WorkerError(f"a worker named {spec.name!r} is already running (pid {pid})")
        if record is not None and proc.alive(record.supervisor_pid, record.supervisor_create_time):
            raise WorkerError(
                f"worker {spec.name!r} is restarting after a crash; use restart (or stop) instead"
            )
        own = own_broker(spec.project)
        config = self._ensure_broker() if own is None else None
        node = node_name(spec.name)
        if self.control_for(spec).ping([node], timeout=0.3):
            raise WorkerError(f"a worker named {node} already answers on this broker")
        self.store.clear_run(spec.name)
        starts = [t for t in (record.starts if record else []) if t > time.time() - 3600]
        record = WorkerRecord(
            spec=spec, hostname=node, started_at=time.time(), starts=[*starts, time.time()]
        )
        child = process.spawn(spec, config, self.restarts, self.restart_window)
        self._children[spec.name] = child
        record.supervisor_pid = child.pid
        record.supervisor_create_time = proc.create_time(child.pid)
        self.store.save(record)
        # Task history: one recorder per broker in use, a project's own broker included.
        history_broker = config if config is not None else own
        if history_broker is not None and history_broker.broker_url:
            _ensure_recorder(history_broker)
        if wait:
            return self.wait_ready(spec.name, timeout or self.start_timeout)
        return self.info(spec.name)

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

    def stop(self, name: str, cold: bool = False, timeout: float | None = None) -> WorkerInfo:
        """Stop and wait (warm up to ``timeout``, then cold, then kill)."""
        self.begin_stop(name, cold=cold, timeout=timeout).wait()
        return self.finish_stop(name)

    def begin_stop(
        self, name: str, cold: bool = False, timeout: float | None = None
    ) -> process.StopSequence:
        """Ask the worker to stop and return at once; step the sequence, then ``finish_stop``."""
        record = self._record(name)
        record.stop_requested_at = time.time()
        self.store.save(record)
        pid = self.store.pid_info(name)
        return process.StopSequence(
            pid.celery_pid if pid else None,
            pid.create_time if pid else None,
            record.supervisor_pid,
            timeout=self.stop_timeout if timeout is None else timeout,
            cold=cold,
        ).begin()

    def finish_stop(self, name: str) -> WorkerInfo:
        child = self._children.pop(name, None)
        if child is not None:
            child.poll()
        return self.info(name)

    def restart(
        self,
        name: str,
        pool: str | None = None,
        concurrency: int | None = None,
        queues: tuple[str, ...] | None = None,
        wait: bool = True,
        **changes: Any,
    ) -> WorkerInfo:
        """Stop (warm) and start again, optionally with a new pool, concurrency or queues (or
        other spec fields: ``autoscale``, ``loglevel``, ``time_limit``…)."""
        spec = self.restart_spec(name, pool, concurrency, queues, **changes)
        if self.is_running(name):
            self.stop(name)
        return self.start(spec, wait=wait)

    def restart_spec(
        self,
        name: str,
        pool: str | None = None,
        concurrency: int | None = None,
        queues: tuple[str, ...] | None = None,
        **changes: Any,
    ) -> WorkerSpec:
        """The spec a restart starts, checked before anything is stopped."""
        record = self._record(name)
        spec = replace(
            record.spec,
            **changes,
            pool=pool or record.spec.pool,
            concurrency=concurrency if concurrency is not None else record.spec.concurrency,
            queues=queues or record.spec.queues,
        )
        if pool and pool != record.spec.pool and spec.autoscale and pool not in LIVE_RESIZE_POOLS:
            spec = replace(spec, autoscale=None)
        return spec.validate()  # refuse before stopping anything

    def is_running(self, name: str) -> bool:
        """Celery or its supervisor is up (so a restart must stop it first)."""
        record = self._record(name)
        return self._celery_alive(name, record) or proc.alive(record.supervisor_pid)

    def resize(self, name: str, concurrency: int) -> ResizeResult:
        """Live ``pool_grow``/``pool_shrink`` where Celery supports it, else a restart."""
        record = self._record(name)
        spec = replace(record.spec, concurrency=concurrency)
        problems = spec.problems()
        if problems:
            raise SpecError(problems)
        info = self.info(name)
        delta = concurrency - record.spec.concurrency
        if delta == 0:
            return ResizeResult(name, concurrency, "live")
        live = (
            info.state == WorkerState.ONLINE
            and record.spec.pool in LIVE_RESIZE_POOLS
            and not record.spec.autoscale
        )
        if not live:
            self.restart(name, concurrency=concurrency)
            return ResizeResult(name, concurrency, "restart")
        try:
            control = self.control_for(record.spec)
            if delta > 0:
                control.grow(record.hostname, delta)
            else:
                control.shrink(record.hostname, -delta)
        except ControlError as exc:
            raise WorkerError(str(exc)) from exc
        record.spec = spec
        self.store.save(record)
        return ResizeResult(name, concurrency, "live")

    def set_queues(self, name: str, queues: tuple[str, ...]) -> WorkerInfo:
        """Change the queues a running worker consumes, live (add/cancel_consumer)."""
        record = self._record(name)
        spec = replace(record.spec, queues=tuple(queues)).validate()
        self._switch_queues(
            self.control_for(record.spec), record.hostname, list(record.spec.queues), spec.queues
        )
        record.spec = spec
        self.store.save(record)
        return self.info(name)

    def forget(self, name: str) -> None:
        """Drop a stopped or crashed worker from the list."""
        record = self._record(name)
        if self._celery_alive(name, record):
            raise WorkerError(f"worker {name!r} is running; stop it first")
        self.store.remove(name)

    # -- remote control ----------------------------------------------------------------------
    def remote_shutdown(self, hostname: str) -> None:
        self._control_listing(hostname).shutdown(hostname)

    def remote_resize(self, hostname: str, delta: int) -> str:
        control = self._control_listing(hostname)
        try:
            if delta >= 0:
                return control.grow(hostname, delta)
            return control.shrink(hostname, -delta)
        except ControlError as exc:
            raise WorkerError(str(exc)) from exc

    def remote_set_queues(self, hostname: str, queues: tuple[str, ...]) -> list[str]:
        """Make a remote worker consume exactly ``queues`` (add/cancel_consumer)."""
        WorkerSpec(name="remote", queues=tuple(queues)).validate()  # same queue-name checks
        control = self._control_listing(hostname)
        current = {w.hostname: w for w in control.remote_workers(timeout=1.0)}
        worker = current.get(hostname)
        if worker is None:
            raise WorkerError(f"{hostname} is not a worker on this broker")
        self._switch_queues(control, hostname, worker.queues, queues)
        return list(queues)

    def _switch_queues(
        self, control: Control, hostname: str, old: list[str], new: tuple[str, ...]
    ) -> None:
        try:
            for queue in new:
                if queue not in old:
                    control.add_consumer(hostname, queue)
            for queue in old:
                if queue not in new:
                    control.cancel_consumer(hostname, queue)
        except ControlError as exc:
            raise WorkerError(str(exc)) from exc

    # -- queries -----------------------------------------------------------------------------
    def info(self, name: str, ping: bool = True) -> WorkerInfo:
        record = self._record(name)
        pid_info = self.store.pid_info(name)
        exit_info = self.store.exit_info(name)
        alive = self._celery_alive(name, record)
        if exit_info is None and proc.alive(record.supervisor_pid, record.supervisor_create_time):
            # Supervisor up: Celery's pid not written yet (starting), or Celery just ended and
            # its exit status is being recorded; either way not a crash (yet).
            alive = True
        run_started = pid_info.started_at if pid_info and pid_info.started_at else 0.0
        answered = record.ready_at is not None and record.ready_at >= run_started
        waiting = alive and not answered and not record.stop_requested_at
        if waiting and ping and self.control_for(record.spec).ping([record.hostname], timeout=0.5):
            record.ready_at = time.time()
            self.store.save(record)
            answered = True
        state = derive(
            Facts(
                process_alive=alive,
                stop_requested=record.stop_requested_at is not None,
                answered_ping=answered,
                exit_code=exit_info.returncode if exit_info else None,
                exited_seen=exit_info is not None,
            )
        )
        info = WorkerInfo(
            name=name,
            hostname=record.hostname,
            pid=pid_info.celery_pid if pid_info and alive else None,
            pool=record.spec.pool,
            concurrency=record.spec.concurrency,
            queues=list(record.spec.queues),
            state=state.value,
            remote=False,
            started_at=record.started_at,
            ready_seconds=(record.ready_at - record.started_at)
            if record.ready_at and record.started_at
            else None,
            autoscale=list(record.spec.autoscale) if record.spec.autoscale else None,
            starts=list(record.starts),
            project=record.spec.project or (DEMO if record.spec.app == DEFAULT_APP else None),
            broker=mask_url(self.broker_for(record.spec).broker_url),
        )
        if info.pid:
            sample = self._sampler.sample(info.pid)
            if sample:
                info.cpu_percent = round(sample.cpu_percent, 1)
                info.memory_bytes = sample.memory_bytes
                info.children = sample.children
        if exit_info is not None:
            info.crashes, info.gave_up = exit_info.crashes, exit_info.gave_up
        elif pid_info is not None:
            info.crashes = pid_info.crashes
        if state == WorkerState.CRASHED:
            info.exit = describe_exit(exit_info.returncode if exit_info else None)
            if exit_info is not None and exit_info.restarting:
                info.exit += f"; restarting automatically ({exit_info.crashes} of {self.restarts})"
            elif exit_info is not None and exit_info.gave_up:
                info.exit += (
                    f"; gave up after {exit_info.crashes} crashes in "
                    f"{self.restart_window / 60:.0f} min"
                )
            info.last_log = tail_lines(self.store.log_path(name), 15)
        return info

    def all(self, include_remote: bool = True, remote_timeout: float = 1.0) -> list[WorkerInfo]:
        local = [self.info(name) for name in self.store.names() if self.store.load(name)]
        if not include_remote:
            return local
        by_host = {w.hostname: w for w in local}
        for project, control in self._sources():
            self._add_remote(local, by_host, project, control, remote_timeout)
        return local

    def _add_remote(
        self,
        out: list[WorkerInfo],
        by_host: dict[str, WorkerInfo],
        project: str | None,
        control: Control,
        timeout: float,
    ) -> None:
        for remote in control.remote_workers(timeout=timeout):
            mine = by_host.get(remote.hostname)
            if mine is not None:
                mine.active, mine.processed = remote.active, remote.processed
                continue
            by_host[remote.hostname] = info = WorkerInfo(
                name=remote.hostname.split("@", 1)[0],
                hostname=remote.hostname,
                pid=remote.pid,
                pool=remote.pool,
                concurrency=remote.concurrency,
                queues=remote.queues,
                state=WorkerState.REMOTE.value,
                remote=True,
                active=remote.active,
                processed=remote.processed,
                project=project,
                broker=control.config.masked_url,
            )
            out.append(info)

    def prime_cpu(self) -> None:
        """CPU % needs two readings: call before a short sleep and ``list()`` (the CLI does)."""
        for name in self.store.names():
            pid = self.store.pid_info(name)
            if pid and proc.alive(pid.celery_pid, pid.create_time):
                self._sampler.sample(pid.celery_pid)

    def logs(self, name: str, lines: int = 50) -> list[str]:
        self._record(name)
        return tail_lines(self.store.log_path(name), lines, max_bytes=max(64 * 1024, lines * 400))

    def follow(self, name: str, poll: float = 0.25) -> Iterator[str]:
        """``tail -f`` that survives rotation (the file is replaced by a new, smaller one)."""
        path = self.store.log_path(name)
        position = path.stat().st_size if path.exists() else 0
        inode = path.stat().st_ino if path.exists() else None
        while True:
            if not path.exists():
                time.sleep(poll)
                continue
            stat = path.stat()
            if stat.st_ino != inode or stat.st_size < position:
                inode, position = stat.st_ino, 0
            if stat.st_size > position:
                with path.open("rb") as fh:
                    fh.seek(position)
                    data = fh.read()
                    position = fh.tell()
                yield from data.decode("utf-8", "replace").splitlines()
            else:
                time.sleep(poll)

    # -- helpers -----------------------------------------------------------------------------
    def _record(self, name: str) -> WorkerRecord:
        record = self.store.load(name)
        if record is None:
            raise WorkerError(f"no worker named {name!r} (see 'pooldesk worker list')")
        return record

    def _celery_pid(self, name: str) -> int | None:
        info = self.store.pid_info(name)
        return info.celery_pid if info else None

    def _celery_alive(self, name: str, record: WorkerRecord) -> bool:
        info = self.store.pid_info(name)
        if info is None:
            return False
        if self.store.exit_info(name) is not None:
            return False
        return proc.alive(info.celery_pid, info.create_time)


def _ensure_recorder(config: BrokerConfig) -> None:
    """The task-history recorder for this broker (backend/taskhistory); never fails a start."""
    import contextlib

    from backend.taskhistory.service import ensure_recorder

    with contextlib.suppress(Exception):  # the history is secondary to the worker itself
        ensure_recorder(config)
