"""The per-process ceiling: a worker busy doing Celery's bookkeeping, where concurrency won't help.

Celery costs a fixed amount of CPU per task in the worker process that receives it (measured
here: ≈ 9 ms on gevent, ≈ 3.6 ms on prefork, for a noop). One gevent or threads process owns at
most one core, so it tops out near 1,000 / (CPU ms per task) tasks/s — 110–150 on this machine —
whatever ``-c`` says. When a worker's process tree is (nearly) one core busy *and* its queue has
a backlog, "raise concurrency" does nothing: more processes do, or fewer, bigger tasks (a
monitoring batch's ``--urls-per-task``). This rule says so, with the measured rate and CPU per
task as its evidence.
"""

from __future__ import annotations

from collections import defaultdict, deque

from pooldesk.backend.advisor.model import Advice, Fix, Observations, Thresholds
from pooldesk.backend.units import plural

BUSY_FRACTION = 0.85  # of the cores its processes can use
MIN_TASKS_PER_S = 20.0  # below this, per-task bookkeeping is not what fills the core
RATE_WINDOW_S = 10.0


class TaskRates:
    """Tasks finished per second per worker, from its cumulative ``processed`` count."""

    def __init__(self) -> None:
        self._seen: dict[str, deque[tuple[float, int]]] = defaultdict(deque)

    def rate(self, hostname: str, now: float, processed: int | None) -> float | None:
        if processed is None:
            return None
        history = self._seen[hostname]
        if history and processed < history[-1][1]:
            history.clear()  # a new life of the worker: its count started again
        history.append((now, processed))
        while len(history) > 2 and history[0][0] < now - RATE_WINDOW_S:
            history.popleft()
        first_t, first_n = history[0]
        if now - first_t < RATE_WINDOW_S / 2:
            return None
        return (processed - first_n) / (now - first_t)


def _processes(pool: str | None, concurrency: int | None, cores: int) -> int:
    if pool == "prefork":
        return max(1, min(concurrency or 1, cores))
    return 1  # gevent, threads (one GIL), solo


def process_ceiling(obs: Observations, th: Thresholds) -> list[Advice]:
    out = []
    for w in obs.workers:
        rate, cores_used = w.tasks_per_s, w.cores_used
        if w.state not in ("online", "online-remote") or rate is None or cores_used is None:
            continue
        processes = _processes(w.pool, w.concurrency, obs.cores)
        waiting = sum(obs.queue_waiting.get(q, 0) for q in w.queues)
        if rate < MIN_TASKS_PER_S or cores_used < BUSY_FRACTION * processes or waiting <= 0:
            continue
        cpu_ms = cores_used / rate * 1000
        ceiling = processes * 1000 / cpu_ms
        evidence = {
            "pool": w.pool,
            "concurrency": w.concurrency,
            "processes": processes,
            "tasks_per_s": round(rate, 1),
            "cpu_ms_per_task": round(cpu_ms, 2),
            "cores_used": round(cores_used, 2),
            "ceiling_tasks_per_s": round(ceiling, 1),
            "waiting": waiting,
        }
        more = f"{w.name}-2"
        fix = (
            Fix(
                "start_worker",
                {
                    "name": more,
                    "pool": w.pool or "prefork",
                    "concurrency": w.concurrency or 1,
                    "queues": list(w.queues),
                },
                f"Start a second worker {more}: {w.pool} × {w.concurrency} on "
                f"{', '.join(w.queues)} (another process, another core).",
            )
            if w.local and w.pool in ("gevent", "threads", "solo") and obs.cores > 1
            else None
        )
        out.append(
            Advice(
                id=f"process_ceiling:{w.hostname}",
                rule="process_ceiling",
                severity="warning",
                title=f"{w.shown} is at its per-process ceiling",
                text=(
                    f"Worker {w.shown} finishes {rate:.0f} tasks/s at {cpu_ms:.1f} ms of CPU "
                    f"each and its {processes} process{'es' if processes > 1 else ''} "
                    f"{'keep' if processes > 1 else 'keeps'} {cores_used:.2f} cores busy: about "
                    f"{ceiling:.0f} tasks/s is all {'they' if processes > 1 else 'it'} can do, "
                    f"and {plural(waiting, 'task')} wait{'s' if waiting == 1 else ''}. "
                    "Raising concurrency will not help; more "
                    "processes will (another worker on these queues), or fewer, bigger tasks "
                    "(e.g. more URLs per task for monitoring batches)."
                ),
                evidence=evidence,
                fix=fix,
            )
        )
    return out
