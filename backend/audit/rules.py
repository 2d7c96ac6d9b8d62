"""Rules about delivery: the broker's visibility timeout, acknowledgements, ETA, result expiry.

Pure functions of (:class:`AppConfig`, workers, :class:`Measurements`, thresholds). A finding
that rests on configuration alone says so and is at most a warning; *critical* needs a
measurement (a run longer than the timeout, an id task history saw start twice, a group that
outlived its results). Values that are not what Celery expects are reported by
:func:`bad_values`, and every other rule reads them through :func:`number`, so an odd value
never raises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pooldesk.backend.advisor.model import Thresholds
from pooldesk.backend.audit.model import (
    DOCS,
    AppConfig,
    Finding,
    Measurements,
    Setting,
    TaskStats,
    WorkerView,
    cite,
    number,
)

# kombu's defaults: Redis 1 h; SQS's queue default is 30 s unless kombu's option sets it.
VISIBILITY_DEFAULTS = {"redis": 3600.0, "sqs": 1800.0}
RESULT_EXPIRES_DEFAULT = 86400.0
NUMERIC = (
    "worker_prefetch_multiplier",
    "task_time_limit",
    "task_soft_time_limit",
    "result_expires",
    "worker_eta_task_limit",
    "worker_soft_shutdown_timeout",
    "worker_max_tasks_per_child",
    "worker_max_memory_per_child",
)
CONFIG_ONLY = "rests on configuration alone (no measurement yet)"
Rule = Callable[[AppConfig, list[WorkerView], Measurements, Thresholds], list[Finding]]


def visibility(cfg: AppConfig) -> Setting | None:
    """``broker_transport_options['visibility_timeout']`` as a Setting (the transport's
    default where unset); None where the transport has no such timeout (AMQP acks are real)."""
    default = VISIBILITY_DEFAULTS.get(cfg.transport or "")
    if default is None:
        return None
    options = cfg.get("broker_transport_options")
    value = options.value.get("visibility_timeout") if isinstance(options.value, dict) else None
    if value is None:
        return Setting("broker_transport_options.visibility_timeout", default, "default")
    return Setting("broker_transport_options.visibility_timeout", value, options.source)


def acks_late(cfg: AppConfig, task: str) -> Setting:
    own = cfg.task_options.get(task, {})
    if "acks_late" in own:
        return Setting(f"{task}.acks_late", own["acks_late"], "task option")
    return cfg.get("task_acks_late")


def bad_values(
    cfg: AppConfig, _w: list[WorkerView], _m: Measurements, _th: Thresholds
) -> list[Finding]:
    out = []
    checks: list[Setting] = [cfg.get(n) for n in NUMERIC]
    options = cfg.get("broker_transport_options")
    if options.value is not None and not isinstance(options.value, dict):
        checks.append(options)
    elif (vt := visibility(cfg)) is not None:
        checks.append(vt)
    for setting in checks:
        value = setting.value
        read = number(value)
        if value is None or (read is not None and read >= 0):
            continue
        out.append(
            Finding(
                "bad_value",
                "warning",
                f"{setting.name} = {value!r} is not a number of the kind Celery expects",
                f"{setting.name} holds {value!r} ({setting.source}). Celery fails on it or "
                f"ignores it when the worker starts, so the behaviour you meant is not what "
                f"runs. {CONFIG_ONLY}.",
                [cite(setting)],
                {},
                {
                    "change": f"set {setting.name} to a number",
                    "docs": DOCS + "userguide/configuration.html",
                },
                cfg.project,
            )
        )
    return out


def visibility_timeout(
    cfg: AppConfig, workers: list[WorkerView], meas: Measurements, th: Thresholds
) -> list[Finding]:
    """celery#4984: a message unacked longer than the timeout is delivered again — the task
    runs twice. Unacked: an acks_late task while it runs, any task while it waits reserved or
    for its ETA."""
    vt = visibility(cfg)
    limit = number(vt.value) if vt else None
    if vt is None or limit is None or limit <= 0:
        return []
    out: list[Finding] = []
    fix = {
        "change": "raise broker_transport_options['visibility_timeout'] above the longest run "
        "or ETA (or keep ETAs short and tasks under a time limit below it)",
        "docs": DOCS + "getting-started/backends-and-brokers/redis.html#visibility-timeout",
    }
    for stats in meas.tasks:
        late = acks_late(cfg, stats.task)
        exposure = stats.max_wait_s + (stats.max_s if late.value is True else 0.0)
        worst = max(exposure, stats.max_eta_s)
        if worst < th.audit_visibility_share * limit and not stats.started_twice:
            continue
        over = worst >= limit or stats.started_twice > 0
        what = "its ETA" if stats.max_eta_s >= exposure else "a run"
        text = (
            f"{stats.task} on {stats.queue}: {what} kept its message unacknowledged for "
            f"{worst:.1f} s (max of {stats.runs} runs), against a visibility timeout of "
            f"{limit:g} s. "
        )
        text += (
            "The broker hands such a message to another worker while it still runs: the task "
            "runs twice."
            if over
            else "That is close: one slower run and it is delivered twice."
        )
        if stats.started_twice:
            text += f" Task history saw {stats.started_twice} id(s) of it start twice."
        out.append(
            Finding(
                "visibility_timeout",
                "critical" if over else "warning",
                f"visibility_timeout {limit:g} s is shorter than {stats.task} needs",
                text,
                [cite(vt), cite(late)],
                {
                    "task": stats.task,
                    "queue": stats.queue,
                    "runs": stats.runs,
                    "max_runtime_s": round(stats.max_s, 3),
                    "max_wait_s": round(stats.max_wait_s, 3),
                    "max_eta_s": round(stats.max_eta_s, 3),
                    "started_twice": stats.started_twice,
                },
                fix,
                cfg.project,
            )
        )
    hard = number(cfg.get("task_time_limit").value)
    if not out and cfg.get("task_acks_late").value is True and hard is not None and hard > limit:
        out.append(
            Finding(
                "visibility_timeout",
                "warning",
                f"acks_late tasks may run {hard:g} s, past visibility_timeout {limit:g} s",
                f"task_time_limit lets an acks_late task run {hard:g} s, but the broker "
                f"redelivers an unacknowledged message after {limit:g} s. {CONFIG_ONLY}.",
                [cite(vt), cite(cfg.get("task_acks_late")), cite(cfg.get("task_time_limit"))],
                {},
                fix,
                cfg.project,
            )
        )
    return out


def acks(
    cfg: AppConfig, workers: list[WorkerView], meas: Measurements, th: Thresholds
) -> list[Finding]:
    """acks_late without reject_on_worker_lost: a killed child's task is acknowledged as
    failed (WorkerLostError) and never retried. Early acks on a long task: a worker killed
    mid-run has already acknowledged it, so the work is lost."""
    out: list[Finding] = []
    reject = cfg.get("task_reject_on_worker_lost")
    late_tasks = [t for t in meas.tasks if acks_late(cfg, t.task).value is True]
    app_late = cfg.get("task_acks_late")
    if (app_late.value is True or late_tasks) and reject.value is not True:
        longest = max(late_tasks, key=lambda t: t.max_s, default=None)
        measured: dict[str, Any] = {}
        text = (
            "acks_late is on but task_reject_on_worker_lost is not: when a worker process is "
            "killed (OOM, a hard time limit, a deploy) its task is acknowledged as failed "
            "(WorkerLostError) and never runs again."
        )
        if longest is not None:
            measured = {
                "task": longest.task,
                "queue": longest.queue,
                "runs": longest.runs,
                "max_runtime_s": round(longest.max_s, 3),
            }
            text += (
                f" {longest.task} runs up to {longest.max_s:.1f} s: a kill in that time loses it."
            )
        else:
            text += f" {CONFIG_ONLY}."
        out.append(
            Finding(
                "acks_late_without_reject",
                "warning",
                "acks_late without task_reject_on_worker_lost",
                text,
                [cite(app_late), cite(reject)],
                measured,
                {
                    "change": "set task_reject_on_worker_lost = True (the tasks must be "
                    "idempotent: a lost run is delivered again)",
                    "docs": DOCS + "userguide/configuration.html#task-reject-on-worker-lost",
                },
                cfg.project,
            )
        )
    for stats in meas.tasks:
        late = acks_late(cfg, stats.task)
        if late.value is True or stats.max_s < th.audit_long_task_s:
            continue
        out.append(
            Finding(
                "early_ack_long_task",
                "warning",
                f"{stats.task} runs {stats.max_s:.0f} s but is acknowledged before it runs",
                f"{stats.task} on {stats.queue} ran up to {stats.max_s:.1f} s (max of "
                f"{stats.runs} runs) with early acknowledgement: a worker killed in that time "
                "has already acknowledged it, and the work is silently lost.",
                [cite(late)],
                {
                    "task": stats.task,
                    "queue": stats.queue,
                    "runs": stats.runs,
                    "max_runtime_s": round(stats.max_s, 3),
                },
                {
                    "change": f"acks_late=True on {stats.task} with task_reject_on_worker_lost "
                    "(if it is idempotent)",
                    "docs": DOCS + "userguide/tasks.html#Task.acks_late",
                },
                cfg.project,
            )
        )
    return out


def eta_piling(
    cfg: AppConfig, workers: list[WorkerView], meas: Measurements, th: Thresholds
) -> list[Finding]:
    """ETA/countdown tasks wait in the worker's memory; without ``worker_eta_task_limit``
    (Celery 5.6) nothing bounds how many."""
    limit = cfg.get("worker_eta_task_limit")
    if number(limit.value) is not None:
        return []
    out = []
    for worker in workers:
        waiting = sum(t.eta_waiting for t in meas.on(worker.queues))
        if waiting < th.audit_eta_waiting:
            continue
        change = (
            "set worker_eta_task_limit (or worker start --eta-task-limit N)"
            if cfg.celery_at_least(5, 6)
            else "upgrade to Celery 5.6 for worker_eta_task_limit, or schedule fewer ETAs"
        )
        out.append(
            Finding(
                "eta_piling",
                "warning",
                f"{waiting} ETA tasks held in {worker.name}'s memory",
                f"{worker.name} holds {waiting} received tasks waiting for their ETA; each sits "
                "in the worker's memory (and, on Redis, unacknowledged) until its time comes.",
                [cite(limit)],
                {"worker": worker.name, "eta_waiting": waiting, "queues": list(worker.queues)},
                {
                    "change": change,
                    "docs": DOCS + "userguide/configuration.html#worker-eta-task-limit",
                },
                cfg.project,
            )
        )
    return out


def result_expiry(
    cfg: AppConfig, workers: list[WorkerView], meas: Measurements, th: Thresholds
) -> list[Finding]:
    """A group's first results expire before its last task finishes: a chord or a join then
    finds nothing."""
    setting = cfg.get("result_expires")
    expires = (
        RESULT_EXPIRES_DEFAULT
        if setting.value is None and setting.source == "default"
        else number(setting.value)
    )
    if not expires or not meas.groups:
        return []
    longest = max(meas.groups, key=lambda g: g.span_s)
    if longest.span_s < expires:
        return []
    return [
        Finding(
            "result_expiry",
            "critical",
            f"results expire after {expires:g} s, a group took {longest.span_s:.0f} s",
            f"Group {longest.group} ({longest.tasks} tasks) ran {longest.span_s:.1f} s from the "
            f"first sent to the last finished, longer than result_expires ({expires:g} s): its "
            "first results are deleted before it completes.",
            [cite(setting)],
            {"group": longest.group, "tasks": longest.tasks, "span_s": round(longest.span_s, 3)},
            {
                "change": "raise result_expires above the longest batch",
                "docs": DOCS + "userguide/configuration.html#result-expires",
            },
            cfg.project,
        )
    ]


def longest(tasks: list[TaskStats]) -> TaskStats | None:
    return max(tasks, key=lambda t: t.max_s, default=None)
