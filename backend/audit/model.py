"""What the configuration audit looks at and what it says.

Three inputs, all plain data so the rules stay pure functions tests drive with real numbers:
the app's settings as its own interpreter resolved them (:class:`AppConfig`, each value with its
source), the workers that run it (:class:`WorkerView`: pool, concurrency, the options Pooldesk
started it with, its memory growth), and what task history measured per task
(:class:`TaskStats`). A :class:`Finding` names the setting, the measurement and the fix.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

DOCS = "https://docs.celeryq.dev/en/stable/"
SEVERITIES = ("critical", "warning", "info")


@dataclass(frozen=True)
class Setting:
    name: str
    value: Any
    source: str  # default | app | settings:<module> | django:<module> | env:<NAME> | worker option


@dataclass
class AppConfig:
    """One project's app, as ``_pooldesk_config`` read it (values as JSON gives them)."""

    project: str
    celery: str | None = None
    transport: str | None = None  # kombu's transport name: redis, amqp, sqs, …
    settings: dict[str, Setting] = field(default_factory=dict)
    queue_types: dict[str, str] = field(default_factory=dict)  # declared queue → classic|quorum
    task_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # task → own options
    task_names: list[str] | None = None  # the app's registered tasks (None: unknown)
    task_queues: dict[str, str] = field(default_factory=dict)  # task → the queue it routes to
    error: str | None = None

    def get(self, name: str) -> Setting:
        return self.settings.get(name) or Setting(name, None, "default")

    def celery_at_least(self, major: int, minor: int) -> bool:
        return version_at_least(self.celery, major, minor)

    @classmethod
    def from_answer(cls, project: str, data: dict[str, Any]) -> AppConfig:
        """From the JSON the in-worker module printed; any odd shape is skipped, never raised."""
        settings: dict[str, Setting] = {}
        raw = data.get("settings")
        for name, item in raw.items() if isinstance(raw, dict) else ():
            if isinstance(item, dict):
                settings[str(name)] = Setting(str(name), item.get("value"), str(item.get("source")))
        queue_types: dict[str, str] = {}
        for queue in data.get("queues") or ():
            if isinstance(queue, dict) and queue.get("name"):
                queue_types[str(queue["name"])] = str(queue.get("type") or "classic")
        options: dict[str, dict[str, Any]] = {}
        for task in data.get("tasks") or ():
            if isinstance(task, dict) and isinstance(task.get("options"), dict):
                options[str(task.get("name"))] = dict(task["options"])
        return cls(
            project=project,
            celery=data.get("celery") if isinstance(data.get("celery"), str) else None,
            transport=_transport_name(data.get("transport")),
            settings=settings,
            queue_types=queue_types,
            task_options=options,
            task_names=[str(n) for n in data["task_names"]]
            if isinstance(data.get("task_names"), list)
            else None,
            task_queues={str(k): str(v) for k, v in data["task_queues"].items()}
            if isinstance(data.get("task_queues"), dict)
            else {},
            error=str(data["error"]) if data.get("error") else None,
        )


def _transport_name(text: Any) -> str | None:
    """``<class 'kombu.transport.redis.Transport'>`` → ``redis``."""
    if not isinstance(text, str):
        return None
    for name in ("redis", "sqs", "amqp", "pyamqp", "librabbitmq", "memory", "filesystem"):
        if f"transport.{name}." in text or text == name:
            return "amqp" if name in ("pyamqp", "librabbitmq") else name
    return text.rsplit(".", 2)[-2] if "." in text else text


def version_at_least(version: str | None, major: int, minor: int) -> bool:
    parts = []
    for piece in (version or "").split(".")[:2]:
        digits = "".join(c for c in piece if c.isdigit())
        if not digits:
            return False
        parts.append(int(digits))
    return len(parts) == 2 and (parts[0], parts[1]) >= (major, minor)


@dataclass(frozen=True)
class WorkerView:
    """A worker that runs the project's app, with the options it was started with."""

    name: str
    pool: str | None
    concurrency: int | None
    queues: tuple[str, ...]
    autoscale: tuple[int, int] | None = None
    prefetch_multiplier: Any = None  # from its command line; None: the app's setting
    max_tasks_per_child: int | None = None
    max_memory_per_child: int | None = None
    time_limit: float | None = None
    soft_time_limit: float | None = None
    uss_growth_bytes_per_min: float | None = None  # measured (sampler), None: not yet
    # What it ran while its memory was watched, from task history: (task, queue, runs), the
    # most runs first. Only read for a worker whose memory grows.
    ran: tuple[tuple[str, str, int], ...] = ()


@dataclass(frozen=True)
class TaskStats:
    """One task name on one queue, from task history (finished runs)."""

    task: str
    queue: str
    runs: int
    median_s: float
    max_s: float
    max_wait_s: float = 0.0  # received → started: reserved inside a worker, not running
    max_eta_s: float = 0.0  # sent → eta: how far ahead it was scheduled
    started_twice: int = 0  # ids that task history saw start twice (redelivered)
    eta_waiting: int = 0  # received with an ETA, not yet started (held in a worker)


@dataclass(frozen=True)
class GroupSpan:
    """The longest group (batch, chord) task history saw: first sent → last finished."""

    group: str
    tasks: int
    span_s: float


@dataclass
class Measurements:
    tasks: list[TaskStats] = field(default_factory=list)
    groups: list[GroupSpan] = field(default_factory=list)

    def on(self, queues: tuple[str, ...] | list[str]) -> list[TaskStats]:
        return [t for t in self.tasks if t.queue in queues]


@dataclass
class Finding:
    rule: str
    severity: str  # critical | warning | info
    title: str
    text: str
    config: list[dict[str, Any]]  # [{setting, value, source}]
    measured: dict[str, Any]  # {} when the finding rests on configuration alone
    fix: dict[str, Any]  # {change, docs}
    project: str = ""
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            self.id = stable_id(self.rule, self.project, self.measured.get("task"), self._key())

    def _key(self) -> str:
        return ",".join(str(c.get("setting")) for c in self.config) + str(
            self.measured.get("worker") or self.measured.get("queue") or ""
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def stable_id(*parts: Any) -> str:
    """The same condition keeps the same id across runs (hysteresis, metrics labels)."""
    text = "|".join("" if p is None else str(p) for p in parts)
    return "audit-" + hashlib.sha1(text.encode()).hexdigest()[:12]


def cite(setting: Setting) -> dict[str, Any]:
    return {"setting": setting.name, "value": setting.value, "source": setting.source}


def number(value: Any) -> float | None:
    """A setting read as a number: None for None, a bool, or anything not a finite number
    (Celery would fail on it or ignore it; the audit reports it, never crashes on it)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return (
            float(value) if value == value and value not in (float("inf"), -float("inf")) else None
        )
    return None
