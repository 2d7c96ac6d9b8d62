"""Worker options that only newer Celery releases (or only some brokers) have.

Celery 5.5 added the *soft shutdown* (``worker_soft_shutdown_timeout``,
``worker_enable_soft_shutdown_on_idle``): on a cold stop (SIGQUIT) the worker first waits up to
the timeout for running tasks, then cancels them so they go back to the queue. Celery 5.6 added
``worker_eta_task_limit`` (ETA tasks held in memory) and ``--disable-prefetch`` (Redis only: a
process fetches a task only when it is free). Celery has a command-line flag only for the last;
the others are passed as ``worker.NAME=VALUE`` (Celery's own command-line configuration,
``app.config_from_cmdline(..., namespace='worker')``). One table says which option needs what,
for the CLI (a refusal, exit 2) and the start dialog (greyed with the reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Feature:
    field: str  # WorkerSpec field
    flag: str  # pooldesk worker start flag
    since: tuple[int, int]
    redis_only: bool = False


FEATURES = (
    Feature("soft_shutdown_timeout", "--soft-shutdown-timeout", (5, 5)),
    Feature("soft_shutdown_on_idle", "--soft-shutdown-on-idle", (5, 5)),
    Feature("disable_prefetch", "--disable-prefetch", (5, 6), redis_only=True),
    Feature("eta_task_limit", "--eta-task-limit", (5, 6)),
)


def version_tuple(version: str | None) -> tuple[int, int] | None:
    parts = []
    for piece in (version or "").split(".")[:2]:
        digits = ""
        for char in piece:
            if not char.isdigit():
                break
            digits += char
        if not digits:
            return None
        parts.append(int(digits))
    return (parts[0], parts[1]) if len(parts) == 2 else None


def is_redis(broker_url: str | None) -> bool:
    scheme = (broker_url or "").partition("://")[0].lower()
    return scheme in ("redis", "rediss", "redis+socket", "sentinel")


def why_not(feature: Feature, celery: str | None, broker_url: str | None) -> str | None:
    """Why ``feature`` cannot be used with this Celery and broker; None if it can."""
    have = version_tuple(celery)
    need = f"{feature.since[0]}.{feature.since[1]}"
    if have is None:
        return f"{feature.flag} needs Celery {need}+; this project's Celery version is unknown"
    if have < feature.since:
        return f"{feature.flag} needs Celery {need}+ (this project has {celery})"
    if feature.redis_only and not is_redis(broker_url):
        return f"{feature.flag} works with a Redis broker only"
    return None


def reasons(celery: str | None, broker_url: str | None) -> dict[str, str | None]:
    """Spec field → why its option is not available (None: available), for greying a form."""
    return {f.field: why_not(f, celery, broker_url) for f in FEATURES}


def unsupported(spec: Any, celery: str | None, broker_url: str | None) -> list[str]:
    """Problems for the options ``spec`` asks for that this Celery or broker lacks."""
    out = []
    for feature in FEATURES:
        if getattr(spec, feature.field, None) in (None, False):
            continue
        reason = why_not(feature, celery, broker_url)
        if reason:
            out.append(reason)
    return out


def argv(spec: Any) -> list[str]:
    """The worker arguments for the options ``spec`` asks for."""
    out: list[str] = []
    if spec.disable_prefetch:
        out.append("--disable-prefetch")
    if spec.soft_shutdown_timeout:
        out.append(f"worker.soft_shutdown_timeout={spec.soft_shutdown_timeout:g}")
    if spec.soft_shutdown_on_idle:
        out.append("worker.enable_soft_shutdown_on_idle=true")
    if spec.eta_task_limit:
        out.append(f"worker.eta_task_limit={spec.eta_task_limit}")
    return out
