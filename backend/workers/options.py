"""The Celery worker options people expect beyond pool/concurrency/queues, checked and turned
into arguments: ``-l``, ``--max-tasks-per-child``, ``--max-memory-per-child``, ``--time-limit``,
``--soft-time-limit`` and a validated pass-through (``-- …``) for anything else.

Pass-through arguments stay an argument list (never a shell string). Options Pooldesk itself
sets or relies on (app, pool, concurrency, queues, node name, events, broker, detaching, log
and pid files) are refused with the flag to use instead: letting them through would make the
panel lose track of the worker or point it at another broker behind the user's back.
"""

from __future__ import annotations

from typing import Any

LOGLEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
RESERVED: dict[str, str] = {
    "-A": "use the project's app (--project / --app)",
    "--app": "use the project's app (--project / --app)",
    "-P": "use --pool",
    "--pool": "use --pool",
    "-c": "use --concurrency",
    "--concurrency": "use --concurrency",
    "-Q": "use --queues",
    "--queues": "use --queues",
    "-n": "Pooldesk names the worker NAME@host",
    "--hostname": "Pooldesk names the worker NAME@host",
    "-E": "events are always on",
    "--task-events": "events are always on",
    "-b": "the broker comes from the app or the project",
    "--broker": "the broker comes from the app or the project",
    "--result-backend": "the result backend comes from the app or the project",
    "-D": "Pooldesk's supervisor is the worker's parent",
    "--detach": "Pooldesk's supervisor is the worker's parent",
    "-f": "Pooldesk keeps the worker's log",
    "--logfile": "Pooldesk keeps the worker's log",
    "--pidfile": "Pooldesk records the worker's pid",
    "-l": "use --loglevel",
    "--loglevel": "use --loglevel",
    "--autoscale": "use --autoscale",
    "--max-tasks-per-child": "use --max-tasks-per-child",
    "--max-memory-per-child": "use --max-memory-per-child",
    "--time-limit": "use --time-limit",
    "--soft-time-limit": "use --soft-time-limit",
    "--disable-prefetch": "use --disable-prefetch",
}


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _positive_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def problems(spec: Any) -> list[str]:
    out: list[str] = []
    if not isinstance(spec.loglevel, str) or spec.loglevel.upper() not in LOGLEVELS:
        out.append(f"loglevel {spec.loglevel!r}: choose one of {', '.join(LOGLEVELS)}")
    for label, value in (
        ("max-tasks-per-child", spec.max_tasks_per_child),
        ("max-memory-per-child", spec.max_memory_per_child),
    ):
        if value is not None and not _positive_int(value):
            out.append(f"{label} {value!r}: must be a whole number >= 1")
    for label, value in (
        ("time-limit", spec.time_limit),
        ("soft-time-limit", spec.soft_time_limit),
    ):
        if value is not None and not _positive_number(value):
            out.append(f"{label} {value!r}: must be a number of seconds > 0")
    shutdown = getattr(spec, "soft_shutdown_timeout", None)
    if shutdown is not None and not _positive_number(shutdown):
        out.append(f"soft-shutdown-timeout {shutdown!r}: must be a number of seconds > 0")
    eta = getattr(spec, "eta_task_limit", None)
    if eta is not None and not _positive_int(eta):
        out.append(f"eta-task-limit {eta!r}: must be a whole number >= 1")
    hard, soft = spec.time_limit, spec.soft_time_limit
    if _positive_number(hard) and _positive_number(soft) and soft >= hard:
        out.append(f"soft-time-limit {soft} must be below time-limit {hard}")
    out.extend(extra_problems(spec.extra_args))
    return out


def extra_problems(extra: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    if extra and not str(extra[0]).startswith("-"):
        out.append(f"worker option {extra[0]!r}: pass-through arguments start with an option")
    for arg in extra:
        if not isinstance(arg, str) or "\x00" in arg or "\n" in arg:
            out.append(f"worker option {arg!r}: not a plain argument")
            continue
        flag = arg.split("=", 1)[0]
        if flag in RESERVED:
            out.append(f"worker option {flag}: {RESERVED[flag]}")
    return out


def argv(spec: Any) -> list[str]:
    """Arguments for the options above (the log level is always given: INFO by default)."""
    out = ["--loglevel", str(spec.loglevel).upper()]
    if spec.max_tasks_per_child:
        out += ["--max-tasks-per-child", str(spec.max_tasks_per_child)]
    if spec.max_memory_per_child:
        out += ["--max-memory-per-child", str(spec.max_memory_per_child)]
    if spec.time_limit:
        out += ["--time-limit", f"{spec.time_limit:g}"]
    if spec.soft_time_limit:
        out += ["--soft-time-limit", f"{spec.soft_time_limit:g}"]
    from pooldesk.backend.workers.celery_features import argv as newer

    return [*out, *newer(spec), *spec.extra_args]
