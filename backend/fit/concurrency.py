"""How many processes or greenlets a queue needs, computed from its measured shares.

- **prefork**: processes ≈ cores × (1 + wait / compute), where compute is the task's CPU share
  and wait the rest (the classic sizing for a pool whose slots each hold one task): CPU-bound
  work gets one process per core; a task that waits 90 % of its run keeps ten per core busy.
  Capped by RAM: n × USS per process must fit in the available memory (a share of it).
- **gevent**: greenlets from Little's law: tasks in flight = arrival rate × mean wall time,
  times a headroom for bursts; capped by file descriptors (each waiting task holds about one
  socket) and RAM.

Each result carries its formula with the numbers filled in: the evidence a user reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pooldesk.backend.units import KiB, MiB

RAM_SHARE = 0.5  # of the available memory a recommendation may plan to use
PREFORK_MAX_PER_CORE = 16
GEVENT_MIN, GEVENT_MAX = 10, 1000
GEVENT_HEADROOM = 2.0
FD_RESERVE = 64  # sockets and files a worker keeps besides its tasks' own
BYTES_PER_GREENLET = 256 * KiB  # a greenlet's stack plus a task's working set, rough
CPU_BOUND = 0.7  # CPU share from which a task counts as CPU-bound (as fit.nature)
MIN_COMPUTE = 0.02  # below this CPU share the wait/compute ratio is noise
# Celery's own CPU per task, measured here (noop tasks, result backend on, events on)
CELERY_CPU_S = {"prefork": 0.004, "solo": 0.004, "threads": 0.006, "gevent": 0.008}


@dataclass(frozen=True)
class Sizing:
    pool: str
    concurrency: int
    formula: str
    inputs: dict[str, Any] = field(default_factory=dict)
    capped_by: str | None = None


def prefork_processes(
    cores: int,
    cpu_share: float,
    uss_per_process: int | None = None,
    ram_available: int | None = None,
) -> Sizing:
    compute = min(1.0, max(MIN_COMPUTE, cpu_share))
    wait = 1.0 - compute
    ideal = cores * (1 + wait / compute)
    # CPU-bound: the nearest whole number (a third process on two busy cores adds nothing);
    # tasks that wait: rounded up (a missing process leaves a core idle while they wait).
    n = max(1, math.floor(ideal + 0.5) if compute >= CPU_BOUND else math.ceil(ideal - 1e-9))
    formula = f"cores × (1 + wait/compute) = {cores} × (1 + {wait:.2f}/{compute:.2f}) = {ideal:.1f}"
    inputs: dict[str, Any] = {"cores": cores, "cpu_share": round(cpu_share, 3)}
    capped_by = None
    limit = PREFORK_MAX_PER_CORE * cores
    if n > limit:
        n, capped_by = limit, f"at most {PREFORK_MAX_PER_CORE} per core"
    if uss_per_process and ram_available:
        ram_cap = max(1, int(ram_available * RAM_SHARE // uss_per_process))
        inputs.update(uss_per_process=uss_per_process, ram_available=ram_available)
        if n > ram_cap:
            n = ram_cap
            capped_by = (
                f"RAM: {ram_cap} × {uss_per_process / MiB:.0f} MiB within "
                f"{RAM_SHARE:.0%} of {ram_available / MiB:.0f} MiB available"
            )
    if capped_by:
        formula += f", capped to {n} ({capped_by})"
    return Sizing("prefork", n, formula, inputs, capped_by)


def gevent_greenlets(
    rate_per_s: float,
    mean_wall_s: float,
    headroom: float = GEVENT_HEADROOM,
    fd_limit: int | None = None,
    ram_available: int | None = None,
    bytes_per_greenlet: int = BYTES_PER_GREENLET,
    cpu_per_task_s: float | None = None,
) -> Sizing:
    """Little's law for a steady arrival rate; with ``cpu_per_task_s`` (the task's CPU plus
    Celery's own per-task cost), also the *saturation point* wall / CPU: the greenlets that
    keep the one core busy when work comes in bursts (a batch sent at once has no steady rate;
    fewer slots leave the core idle, more add nothing). The larger of the two, × headroom."""
    in_flight = max(0.0, rate_per_s) * max(0.0, mean_wall_s)
    cpu = None if cpu_per_task_s is None else max(cpu_per_task_s, 1e-4) + CELERY_CPU_S["gevent"]
    saturate = max(0.0, mean_wall_s) / cpu if cpu else 0.0
    ideal = max(in_flight, saturate) * headroom
    n = min(GEVENT_MAX, max(GEVENT_MIN, math.ceil(ideal - 1e-9)))
    if cpu and saturate > in_flight:
        formula = (
            f"max(rate × wall, wall / CPU) × headroom = max({rate_per_s:.1f}/s × "
            f"{mean_wall_s:.3f} s, {mean_wall_s:.3f} s / {cpu * 1000:.1f} ms) × {headroom:g} "
            f"= {ideal:.1f}"
        )
    else:
        formula = (
            f"rate × wall × headroom = {rate_per_s:.1f}/s × {mean_wall_s:.3f} s × {headroom:g} "
            f"= {ideal:.1f}"
        )
    if n == GEVENT_MIN and ideal < GEVENT_MIN:
        formula += f", at least {GEVENT_MIN}"
    inputs: dict[str, Any] = {
        "rate_per_s": round(rate_per_s, 3),
        "mean_wall_s": round(mean_wall_s, 4),
        "headroom": headroom,
    }
    if cpu:
        inputs["cpu_per_task_s"] = round(cpu, 4)
    capped_by = None
    if fd_limit:
        fd_cap = max(1, fd_limit - FD_RESERVE)
        inputs["fd_limit"] = fd_limit
        if n > fd_cap:
            n, capped_by = fd_cap, f"file descriptors: {fd_limit} − {FD_RESERVE} reserved"
    if ram_available:
        ram_cap = max(1, int(ram_available * RAM_SHARE // bytes_per_greenlet))
        inputs["ram_available"] = ram_available
        if n > ram_cap:
            n, capped_by = ram_cap, f"RAM: {ram_cap} × {bytes_per_greenlet // 1024} KiB"
    if capped_by:
        formula += f", capped to {n} ({capped_by})"
    return Sizing("gevent", n, formula, inputs, capped_by)


# -- a throughput model, for the expected speed-up and the recommendation-quality bench ---------


def task_rate(
    pool: str, concurrency: int, cores: int, wall_s: float, cpu_s: float, yields: bool
) -> float:
    """Tasks per second a worker can finish when its queue never runs dry.

    ``wall_s``/``cpu_s``: one run on its own; ``yields``: its waits give a gevent loop back.
    Per-task Celery bookkeeping (measured: 4 ms prefork, 8–9 ms gevent) is CPU too.
    """
    overhead = CELERY_CPU_S.get(pool, 0.005)
    wall = max(wall_s, 1e-6) + overhead
    cpu = max(0.0, cpu_s) + overhead
    if pool in ("prefork", "solo"):
        n = 1 if pool == "solo" else concurrency
        return min(n / wall, cores / cpu)
    if pool == "gevent" and not yields:
        return 1.0 / wall  # the loop runs one holding task at a time
    # gevent with cooperative waits, threads (the GIL serialises the CPU part): one core
    return min(concurrency / wall, 1.0 / cpu)


def expected_speedup(now: float, then: float) -> float | None:
    if now <= 0:
        return None
    return round(then / now, 2)
