"""What one resource sample holds: plain frozen dataclasses, JSON-ready through ``to_dict()``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SYSTEM_FIELDS = ("cpu_percent", "ram_used", "ram_available", "ram_total", "swap_used")
PROCESS_FIELDS = (
    "cpu_percent",
    "cores_used",
    "cores_used_smooth",
    "memory_bytes",
    "rss_bytes",
    "children",
    "open_fds",
    "cpu_seconds",
)


@dataclass(frozen=True)
class SystemSample:
    cpu_percent: float  # 0-100, all cores together
    per_cpu: tuple[float, ...]  # 0-100 per core
    ram_used: int  # total − available (what new work cannot have), not psutil's "used"
    ram_available: int
    ram_total: int
    swap_used: int
    swap_total: int


@dataclass(frozen=True)
class ProcessSample:
    """One process tree: a local worker (``kind="worker"``) or a tracked process."""

    name: str
    kind: str  # "worker" | "process"
    pid: int
    cpu_percent: float  # 100 = one core, summed over the tree
    memory_bytes: int  # USS of the tree (RSS where USS is unavailable)
    rss_bytes: int
    children: int
    open_fds: int
    cpu_seconds: float  # cumulative user + system of the tree
    cores_used: float | None  # Δ cpu_seconds / Δ wall since the previous sample (None: first)
    cores_used_smooth: float | None  # the same over the last ~5 s
    hostname: str | None = None  # workers: NAME@host, to join with the event monitor
    pool: str | None = None
    concurrency: int | None = None  # configured, to show beside cores_used


@dataclass(frozen=True)
class Snapshot:
    timestamp: float  # wall clock (time.time())
    system: SystemSample
    workers: dict[str, ProcessSample] = field(default_factory=dict)
    processes: dict[str, ProcessSample] = field(default_factory=dict)
    cost_seconds: float = 0.0  # CPU this sample() call took (thread time)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["system"]["per_cpu"] = list(self.system.per_cpu)
        return data
