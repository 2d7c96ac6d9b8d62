"""Rules about the workers that run an app: prefetch, time limits, memory, autoscale.

Pure functions like ``rules``; each judges the settings a worker really runs with — its own
command-line options (``--prefetch-multiplier``, ``--time-limit``, ``--max-tasks-per-child``,
``--autoscale``) first, the app's settings where it has none.
"""

from __future__ import annotations

from typing import Any

from pooldesk.backend.advisor.model import Thresholds
from pooldesk.backend.audit.model import (
    DOCS,
    AppConfig,
    Finding,
    Measurements,
    Setting,
    WorkerView,
    cite,
    number,
)
from pooldesk.backend.audit.rules import CONFIG_ONLY
from pooldesk.backend.units import MiB

PREFETCH_DEFAULT = 4
WORKER_OPTION = "worker option"


def prefetch(cfg: AppConfig, worker: WorkerView) -> Setting:
    if worker.prefetch_multiplier is not None:
        return Setting("--prefetch-multiplier", worker.prefetch_multiplier, WORKER_OPTION)
    setting = cfg.get("worker_prefetch_multiplier")
    if setting.value is None:
        return Setting(setting.name, PREFETCH_DEFAULT, "default")
    return setting


def hard_limit(cfg: AppConfig, worker: WorkerView | None, task: str | None = None) -> Setting:
    """The hard time limit a task runs under: its own option, the worker's, the app's."""
    own = cfg.task_options.get(task or "", {})
    if own.get("time_limit") is not None:
        return Setting(f"{task}.time_limit", own["time_limit"], "task option")
    if worker is not None and worker.time_limit is not None:
        return Setting("--time-limit", worker.time_limit, WORKER_OPTION)
    return cfg.get("task_time_limit")


def prefetch_long_tasks(
    cfg: AppConfig, workers: list[WorkerView], meas: Measurements, th: Thresholds
) -> list[Finding]:
    """celery#1933/#4494/#6500: under prefork each process reserves ``multiplier`` messages;
    a short task reserved behind a long one waits although another process is idle."""
    out: list[Finding] = []
    disabled = cfg.get("worker_disable_prefetch")
    for worker in workers:
        if worker.pool != "prefork" or disabled.value is True:
            continue
        size = worker.autoscale[0] if worker.autoscale else (worker.concurrency or 1)
        multiplier = prefetch(cfg, worker)
        value = number(multiplier.value)
        if size < 2 or value is None or value <= 1:
            continue
        tasks = meas.on(worker.queues)
        long = max(tasks, key=lambda t: t.max_s, default=None)
        if long is None or long.max_s < th.audit_long_task_s:
            continue
        waited = max(tasks, key=lambda t: t.max_wait_s)
        measured: dict[str, Any] = {
            "worker": worker.name,
            "task": long.task,
            "queue": long.queue,
            "max_runtime_s": round(long.max_s, 3),
            "waited_task": waited.task,
            "max_wait_s": round(waited.max_wait_s, 3),
        }
        critical = waited.max_wait_s >= th.audit_prefetch_wait_s
        text = (
            f"{worker.name} (prefork, {size} processes) reserves {value:g} messages per process "
            f"and runs {long.task}, which took up to {long.max_s:.1f} s. "
        )
        text += (
            f"{waited.task} waited {waited.max_wait_s:.1f} s inside the worker before it started: "
            "reserved behind a long task while another process could have run it."
            if critical
            else "A short task reserved behind it waits the whole time, even with a process idle."
        )
        change = "--prefetch-multiplier 1 (with acks_late)"
        if cfg.transport == "redis" and cfg.celery_at_least(5, 6):
            change += " or --disable-prefetch"
        out.append(
            Finding(
                "prefetch_long_tasks",
                "critical" if critical else "warning",
                f"prefetch multiplier {value:g} with long tasks on {worker.name}",
                text,
                [cite(multiplier)],
                measured,
                {"change": change, "docs": DOCS + "userguide/optimizing.html#prefetch-limits"},
                cfg.project,
            )
        )
    return out


def time_limits(
    cfg: AppConfig, workers: list[WorkerView], meas: Measurements, th: Thresholds
) -> list[Finding]:
    """The gevent pool implements no soft limit and cannot enforce the hard one on a task that
    blocks; elsewhere, a run 20× its median with no limit at all is a hang nothing will end."""
    out: list[Finding] = []
    for worker in workers:
        if worker.pool != "gevent":
            continue
        limits = [hard_limit(cfg, worker)]
        soft = cfg.get("task_soft_time_limit")
        if worker.soft_time_limit is not None:
            soft = Setting("--soft-time-limit", worker.soft_time_limit, WORKER_OPTION)
        limits.append(soft)
        set_limits = [s for s in limits if number(s.value)]
        if not set_limits:
            continue
        shortest = min(number(s.value) or 0.0 for s in set_limits)
        tasks = meas.on(worker.queues)
        over = [t for t in tasks if t.max_s > shortest]
        worst = max(over, key=lambda t: t.max_s, default=None)
        text = (
            f"{worker.name} runs the gevent pool with a time limit of {shortest:g} s. gevent "
            "implements no soft time limit and does not enforce the hard one while a task "
            "blocks the loop. "
        )
        measured: dict[str, Any] = {"worker": worker.name}
        if worst is not None:
            text += f"{worst.task} ran {worst.max_s:.1f} s, past the limit, and was not stopped."
            measured.update(task=worst.task, queue=worst.queue, max_runtime_s=round(worst.max_s, 3))
        else:
            text += CONFIG_ONLY + "."
        out.append(
            Finding(
                "gevent_time_limit",
                "critical" if worst is not None else "warning",
                f"time limits do not work on gevent ({worker.name})",
                text,
                [cite(s) for s in set_limits],
                measured,
                {
                    "change": "bound the work inside the task (timeouts on its I/O calls), or run "
                    "it on a prefork worker where the limits hold",
                    "docs": DOCS + "userguide/workers.html#time-limits",
                },
                cfg.project,
            )
        )
    for stats in meas.tasks:
        if stats.runs < th.audit_min_runs or stats.median_s <= 0:
            continue
        if stats.max_s < th.audit_outlier_factor * stats.median_s:
            continue
        consumers: list[WorkerView | None] = [w for w in workers if stats.queue in w.queues]
        consumers = consumers or [None]
        if any(number(hard_limit(cfg, w, stats.task).value) for w in consumers):
            continue
        ratio = stats.max_s / stats.median_s
        out.append(
            Finding(
                "no_time_limit",
                "warning",
                f"{stats.task} ran {ratio:.0f}× its median with no time limit",
                f"{stats.task} on {stats.queue}: median {stats.median_s:.2f} s, but one run took "
                f"{stats.max_s:.1f} s ({stats.runs} runs), and no time limit would have ended a "
                "hung run: it holds its worker slot for ever.",
                [cite(hard_limit(cfg, consumers[0], stats.task))],
                {
                    "task": stats.task,
                    "queue": stats.queue,
                    "runs": stats.runs,
                    "median_s": round(stats.median_s, 3),
                    "max_runtime_s": round(stats.max_s, 3),
                },
                {
                    "change": f"time_limit on {stats.task} (or task_time_limit / --time-limit) "
                    "a few times its normal runtime",
                    "docs": DOCS + "userguide/workers.html#time-limits",
                },
                cfg.project,
            )
        )
    return out


def memory_growth(
    cfg: AppConfig, workers: list[WorkerView], meas: Measurements, th: Thresholds
) -> list[Finding]:
    """celery#4843: memory that grows task after task is only returned when the process
    ends; without max-tasks/max-memory-per-child it grows until the machine swaps."""
    out = []
    for worker in workers:
        growth = worker.uss_growth_bytes_per_min
        if growth is None or growth < th.uss_growth_bytes_per_min:
            continue
        settings = [
            Setting("--max-tasks-per-child", worker.max_tasks_per_child, WORKER_OPTION)
            if worker.max_tasks_per_child is not None
            else cfg.get("worker_max_tasks_per_child"),
            Setting("--max-memory-per-child", worker.max_memory_per_child, WORKER_OPTION)
            if worker.max_memory_per_child is not None
            else cfg.get("worker_max_memory_per_child"),
        ]
        if any(number(s.value) for s in settings):
            continue
        measured: dict[str, Any] = {
            "worker": worker.name,
            "uss_growth_mib_per_min": round(growth / MiB, 2),
            "watched_s": round(th.uss_growth_window_s, 1),
        }
        ran = ""
        if worker.ran:
            task, queue, runs = worker.ran[0]
            if queue == "?":  # no task-sent event brought it: the app's own route
                queue = str(cfg.task_queues.get(task) or queue)
            measured.update(task=task, queue=queue, runs=runs)
            ran = f" while it ran {task} ({runs} runs on {queue})"
        out.append(
            Finding(
                "memory_growth",
                "warning",
                f"{worker.name} grows {growth / MiB:.1f} MiB/min with no per-child limit",
                f"{worker.name}'s memory grew {growth / MiB:.1f} MiB a minute{ran}, watched "
                f"for at least {th.uss_growth_window_s:g} s, and nothing recycles its "
                "processes: it grows until the machine swaps.",
                [cite(s) for s in settings],
                measured,
                {
                    "change": "--max-tasks-per-child N or --max-memory-per-child KiB (prefork)",
                    "docs": DOCS + "userguide/workers.html#max-tasks-per-child-setting",
                },
                cfg.project,
            )
        )
    return out


def autoscale_quorum(
    cfg: AppConfig, workers: list[WorkerView], meas: Measurements, th: Thresholds
) -> list[Finding]:
    """Celery's autoscaler does not work with RabbitMQ quorum queues."""
    default_type = cfg.get("task_default_queue_type")
    out = []
    for worker in workers:
        if not worker.autoscale:
            continue
        quorum = [
            q
            for q in worker.queues
            if cfg.queue_types.get(q, str(default_type.value or "classic")) == "quorum"
        ]
        if not quorum:
            continue
        out.append(
            Finding(
                "autoscale_quorum",
                "warning",
                f"{worker.name} autoscales on quorum queues",
                f"{worker.name} runs with --autoscale {worker.autoscale[0]},{worker.autoscale[1]} "
                f"on quorum queue(s) {', '.join(quorum)}: Celery does not support autoscale with "
                f"quorum queues (no global QoS). {CONFIG_ONLY}.",
                [
                    cite(default_type),
                    cite(Setting("--autoscale", list(worker.autoscale), WORKER_OPTION)),
                ],
                {"worker": worker.name, "queues": quorum},
                {
                    "change": "a fixed --concurrency instead of --autoscale",
                    "docs": DOCS
                    + "getting-started/backends-and-brokers/rabbitmq.html#using-quorum-queues",
                },
                cfg.project,
            )
        )
    return out
