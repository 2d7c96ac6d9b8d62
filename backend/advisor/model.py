"""What the advisor looks at (observations) and what it says (advice with a fix).

Observations are plain data assembled from the sampler, the event monitor, the worker manager
and the broker status, so the rules are pure functions that tests can drive with real numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pooldesk.backend.telemetry.fitstate import TaskFit
from pooldesk.backend.units import MiB

# Pooldesk's own queues; a user's queues get their nature from settings (advisor.queue_nature)
# or from the ``nature`` option of the tasks routed to them. ``orchestration`` declares none:
# its batch parents and watch rounds are short bookkeeping (measured: mostly CPU, a few ms to
# tens of ms a run), fine on any pool, so a guess would only be contradicted by the probe.
POOLDESK_QUEUES = ("invoices", "monitoring", "orchestration")
DEFAULT_NATURES = {"invoices": "cpu", "monitoring": "io"}


@dataclass
class WorkerObs:
    name: str
    hostname: str
    local: bool
    pool: str | None
    concurrency: int | None
    queues: list[str]
    state: str
    active: int = 0
    cores_used: float | None = None  # Δ CPU time of the process tree / Δ wall, smoothed
    uss_bytes: int | None = None
    uss_growth_bytes_per_min: float | None = None
    loop_lag_ms_max: float | None = None  # from the in-worker probe (gevent only)
    blocked_reports_recent: int | None = None  # gevent monitor reports in the last window
    ping_seconds: float | None = None
    starts_recent: int = 0  # crashes in the crash-loop window (the supervisor's count)
    gave_up: bool = False  # the supervisor stopped restarting it: a crash loop
    exit: str | None = None
    # The in-worker probe's per-task measurements (worker-fit); None: no probe heard from it.
    fit: list[TaskFit] | None = None
    tasks_per_s: float | None = None  # finished tasks per second, from events (ceiling.py)
    off_broker: str | None = None  # a running local worker that cannot reach its broker
    host: str = ""  # the fleet host whose agent runs it ("" for this machine, or a plain node)

    @property
    def shown(self) -> str:
        """Its name as advice and Pool fit write it: "reports-1 on web-2" for a fleet host's
        worker (two hosts may each run a "reports-1"), the bare name otherwise."""
        return f"{self.name} on {self.host}" if self.host else self.name


@dataclass
class BatchObs:
    id: str
    kind: str
    queue: str
    pending: int
    started: int


@dataclass
class Observations:
    workers: list[WorkerObs] = field(default_factory=list)
    queue_waiting: dict[str, int] = field(default_factory=dict)
    batches: list[BatchObs] = field(default_factory=list)
    natures: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_NATURES))
    cores: int = 1
    ram_available_bytes: int | None = None
    ram_total_bytes: int | None = None
    broker_up: bool = True
    broker_error: str | None = None
    queue_rates: dict[str, float] = field(default_factory=dict)  # finished per s (60 s)
    fd_limit: int | None = None  # soft RLIMIT_NOFILE a new worker would get

    def consumers(self, queue: str) -> list[WorkerObs]:
        return [
            w for w in self.workers if queue in w.queues and w.state in ("online", "online-remote")
        ]


@dataclass
class Fix:
    """A one-click action: ``kind`` names what ``advisor.fixes`` performs with ``params``."""

    kind: str  # restart_worker | resize_worker | start_worker | stop_worker | none
    params: dict[str, Any]
    confirm: str  # exactly what will be restarted/started, shown before doing it


@dataclass
class Advice:
    id: str  # stable: the same condition keeps the same id while it lasts
    rule: str
    severity: str  # info | warning | critical
    title: str
    text: str
    evidence: dict[str, Any]
    fix: Fix | None = None
    # The condition is gone; kept a few runs against flapping (advisor.engine.fading). The
    # banner does not count it, the card says so: nothing on screen contradicts the page.
    fading: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Thresholds:
    """Defaults for ``settings.advisor``; every number a rule uses lives here, not in code."""

    lag_ms: float = 500.0  # loop lag that counts as blocked
    blocked_reports: int = 3  # gevent monitor reports in a window that count as blocked
    gevent_single_core: float = 1.15  # tree never above ~one core while >= 2 tasks run
    io_prefork_min_concurrency: int = 8  # prefork at least this wide on an io queue
    ram_available_fraction: float = 0.10
    ram_available_min_bytes: int = 512 * MiB
    uss_growth_bytes_per_min: float = 20 * MiB
    # Memory is watched this long before its growth counts (and over up to twice this): a
    # worker warming up (imports, connection pools, caches) grows for its first minutes too.
    uss_growth_window_s: float = 300.0
    crash_loop_starts: int = 3
    crash_loop_minutes: float = 10.0
    raise_after: int = 2  # consecutive evaluations before a warning shows (hysteresis)
    clear_after: int = 3  # consecutive clean evaluations before it goes away
    fit_min_runs: int = 3  # runs of a queue's tasks before its measured nature counts
    fit_hold_ms: float = 100.0  # a loop held this long at once is felt by every greenlet
    fit_min_wall_ms: float = 20.0  # shorter tasks: too short for a nature finding to matter
    trial_concurrency: int = 20  # greenlets of a gevent trial worker
    # The configuration audit (backend.audit.rules): what a measurement must reach to matter.
    audit_visibility_share: float = 0.8  # runtime/ETA at this share of visibility_timeout
    audit_long_task_s: float = 60.0  # early acks and prefetch matter for tasks this long
    audit_prefetch_wait_s: float = 5.0  # a reserved task waited this long inside a worker
    audit_outlier_factor: float = 20.0  # a run this many times its task's median, no limit
    audit_min_runs: int = 5  # runs of a task before its median counts
    audit_eta_waiting: int = 100  # ETA tasks held in one worker's memory at once

    @classmethod
    def from_settings(cls, data: dict[str, Any] | None) -> Thresholds:
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in (data or {}).items() if k in known}
        return cls(**values)
