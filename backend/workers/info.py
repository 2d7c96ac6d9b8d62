"""What the manager reports about a worker (:class:`WorkerInfo`), and its errors.

Its own module so that readers of worker rows (the CLI's tables, the window's models, the
advisor, the metrics collector) depend on a data class, not on the manager that fills it.
``pooldesk.backend.workers.manager`` re-exports everything here.
"""

from __future__ import annotations

import socket
from dataclasses import asdict, dataclass, field
from typing import Any


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
    problem: str | None = None  # one line: its record file is unreadable
    off_broker: str | None = None  # one line: it runs but cannot reach its broker

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ResizeResult:
    name: str
    concurrency: int
    method: str  # "live" (pool_grow/pool_shrink) or "restart"


def node_name(name: str) -> str:
    """What ``-n NAME@%h`` expands to inside Celery."""
    return f"{name}@{socket.gethostname()}"
