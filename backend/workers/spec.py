"""What a worker should be (name, pool, concurrency, queues) and the checks a person needs.

Validation returns every problem at once, phrased for the form or CLI that shows it; warnings
(e.g. prefork far above the core count) do not block a start but are shown beside it.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from pooldesk.backend.workers import options

POOLS = ("prefork", "gevent", "threads", "solo")
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
RESERVED_SUFFIXES = (".pid", ".exit")
QUEUE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
APP_RE = re.compile(
    r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*(:[A-Za-z_][A-Za-z0-9_]*)?$"
)
GEVENT_MAX = 10_000
THREADS_MAX = 1_000
DEFAULT_APP = "pooldesk.backend.celery_app:app"
# Up to 0.1 the demo app was importable as ``backend.celery_app`` (the packages sat at the top of
# site-packages); worker records and presets saved then still name it, and a restart must not
# fail on a module that no longer exists under that name.
RENAMED_APPS = {"backend.celery_app:app": DEFAULT_APP, "backend.celery_app": DEFAULT_APP}
# Pools a platform cannot run, with the reason the form and the CLI show. Celery's prefork pool
# (billiard) forks and relies on POSIX signals and process groups; Celery does not support it on
# Windows, where CPU-bound queues scale with several solo workers instead.
UNAVAILABLE_POOLS: dict[str, dict[str, str]] = {
    "win32": {
        "prefork": (
            "prefork needs fork() and POSIX signals, which Windows lacks; "
            "for CPU-bound queues start several solo workers, for I/O-bound ones use gevent "
            "or threads"
        ),
    },
}


class SpecError(ValueError):
    """One or more problems with a worker spec; ``problems`` lists them for the UI."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _reserved_name(name: str) -> str | None:
    """Names that would collide with the files a worker keeps under ``workers/``: ``.`` and
    ``..`` are directories, a leading dot is a hidden file (the per-worker locks are
    ``.NAME.lock``), and ``w.pid`` / ``w.exit`` would read as another worker's run files."""
    if name.startswith("."):
        return "must not start with '.' ('.' and '..' name folders)"
    if name.endswith(RESERVED_SUFFIXES):
        return f"must not end with {' or '.join(RESERVED_SUFFIXES)} (Pooldesk's own file names)"
    return None


def cores() -> int:
    return os.cpu_count() or 1


def pool_unavailable(pool: str, platform: str | None = None) -> str | None:
    """Why ``pool`` cannot run on ``platform`` (default: this machine), or None if it can."""
    return UNAVAILABLE_POOLS.get(platform or sys.platform, {}).get(pool)


def available_pools(platform: str | None = None) -> tuple[str, ...]:
    """The pools this platform can run, in the order forms offer them (the default first)."""
    return tuple(p for p in POOLS if pool_unavailable(p, platform) is None)


# Pools whose size Celery changes in place (pool_grow/pool_shrink; --autoscale needs the same).
LIVE_RESIZE_POOLS = ("prefork", "gevent")
RESIZE_LIVE_STATES = ("online", "online-remote")


def can_resize_live(pool: str | None, autoscale: object = None, state: str = "online") -> bool:
    """Whether a new concurrency is applied in place (Celery's ``pool_grow``/``pool_shrink``,
    nothing interrupted) rather than by a restart.

    The one place that decides it, for the manager, the window's worker service and the resize
    dialog: only a worker that answers (``state`` online, local or remote), on a pool that can
    change size (prefork, gevent), and not autoscaled (its size follows the load: Celery's
    autoscaler would undo the change).
    """
    return state in RESIZE_LIVE_STATES and pool in LIVE_RESIZE_POOLS and not autoscale


@dataclass(frozen=True)
class WorkerSpec:
    name: str
    pool: str = "prefork"
    concurrency: int = 1
    queues: tuple[str, ...] = ("default",)
    autoscale: tuple[int, int] | None = None  # (max, min), as Celery's --autoscale=max,min
    app: str = DEFAULT_APP
    extra_env: dict[str, str] = field(default_factory=dict)
    # A saved project (backend.projects): its interpreter, workdir, env and broker. None: the
    # demo, or an --app importable from Pooldesk's own environment (as before projects).
    project: str | None = None
    loglevel: str = "INFO"
    max_tasks_per_child: int | None = None
    max_memory_per_child: int | None = None  # KiB, as Celery counts it
    time_limit: float | None = None  # seconds
    soft_time_limit: float | None = None
    extra_args: tuple[str, ...] = ()  # validated pass-through worker options (argument list)
    # Celery 5.5+/5.6+ (workers/celery_features.py): soft shutdown, ETA limit, no prefetch.
    soft_shutdown_timeout: float | None = None  # seconds
    soft_shutdown_on_idle: bool = False
    disable_prefetch: bool = False  # Redis only
    eta_task_limit: int | None = None

    # -- checks ------------------------------------------------------------------------------
    def problems(self, platform: str | None = None) -> list[str]:
        """Every problem at once; ``platform`` (default: this machine) decides which pools run."""
        out: list[str] = []
        if not isinstance(self.name, str) or not NAME_RE.match(self.name):
            out.append(
                f"name {self.name!r}: use 1-64 letters, digits, '_', '.' or '-' (no '@' or spaces)"
            )
        elif (reason := _reserved_name(self.name)) is not None:
            out.append(f"name {self.name!r}: {reason}")
        if self.pool not in POOLS:
            out.append(f"pool {self.pool!r}: choose one of {', '.join(available_pools(platform))}")
        elif (reason := pool_unavailable(self.pool, platform)) is not None:
            out.append(f"pool {self.pool!r}: not available here: {reason}")
        conc = self.concurrency
        if isinstance(conc, bool) or not isinstance(conc, int) or conc < 1:
            out.append(f"concurrency {conc!r}: must be a whole number >= 1")
        elif self.pool == "gevent" and conc > GEVENT_MAX:
            out.append(f"concurrency {conc}: gevent allows at most {GEVENT_MAX:,}")
        elif self.pool == "threads" and conc > THREADS_MAX:
            out.append(f"concurrency {conc}: threads allows at most {THREADS_MAX:,}")
        elif self.pool == "solo" and conc != 1:
            out.append("concurrency: the solo pool runs exactly one task at a time; use 1")
        elif self.pool == "prefork" and conc > 64 * cores():
            out.append(f"concurrency {conc}: prefork above {64 * cores()} processes is refused")
        if not self.queues:
            out.append("queues: give at least one queue")
        for queue in self.queues:
            if not isinstance(queue, str) or not QUEUE_RE.match(queue):
                out.append(f"queue {queue!r}: use letters, digits, '_', '.' or '-'")
        if len(set(self.queues)) != len(self.queues):
            out.append("queues: a queue is listed twice")
        if self.autoscale is not None:
            out.extend(self._autoscale_problems())
        if not isinstance(self.app, str) or not APP_RE.match(self.app):
            out.append(f"app {self.app!r}: give an import path like 'proj.celery:app'")
        out.extend(options.problems(self))  # worker options beyond pool/concurrency/queues
        return out

    def _autoscale_problems(self) -> list[str]:
        if self.pool not in LIVE_RESIZE_POOLS:
            return [f"autoscale: the {self.pool} pool cannot grow or shrink"]
        try:
            high, low = self.autoscale  # type: ignore[misc]
        except (TypeError, ValueError):
            return ["autoscale: give max,min"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (high, low)):
            return ["autoscale: max and min must be whole numbers"]
        if low < 0 or high < 1 or low > high:
            return [f"autoscale {high},{low}: need max >= 1 and 0 <= min <= max"]
        return []

    def warnings(self) -> list[str]:
        out: list[str] = []
        conc = self.concurrency
        if self.pool == "prefork" and isinstance(conc, int) and conc > 4 * cores():
            out.append(
                f"prefork × {self.concurrency} is over 4 × the {cores()} cores here: each "
                "slot is a process with its own memory; for I/O-bound queues use gevent"
            )
        return out

    def validate(self) -> WorkerSpec:
        problems = self.problems()
        if problems:
            raise SpecError(problems)
        return self

    @property
    def max_concurrency(self) -> int:
        return self.autoscale[0] if self.autoscale else self.concurrency

    # -- serialisation -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["queues"] = list(self.queues)
        data["autoscale"] = list(self.autoscale) if self.autoscale else None
        data["extra_args"] = list(self.extra_args)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerSpec:
        autoscale = data.get("autoscale")
        return cls(
            name=data["name"],
            pool=data.get("pool", "prefork"),
            concurrency=data.get("concurrency", 1),
            queues=tuple(data.get("queues") or ()),
            autoscale=(int(autoscale[0]), int(autoscale[1])) if autoscale else None,
            app=RENAMED_APPS.get(data.get("app") or "", data.get("app") or DEFAULT_APP),
            extra_env=dict(data.get("extra_env") or {}),
            project=data.get("project") or None,
            loglevel=data.get("loglevel") or "INFO",
            max_tasks_per_child=data.get("max_tasks_per_child"),
            max_memory_per_child=data.get("max_memory_per_child"),
            time_limit=data.get("time_limit"),
            soft_time_limit=data.get("soft_time_limit"),
            extra_args=tuple(data.get("extra_args") or ()),
            soft_shutdown_timeout=data.get("soft_shutdown_timeout"),
            soft_shutdown_on_idle=bool(data.get("soft_shutdown_on_idle", False)),
            disable_prefetch=bool(data.get("disable_prefetch", False)),
            eta_task_limit=data.get("eta_task_limit"),
        )


def changed(
    spec: WorkerSpec,
    pool: str | None = None,
    concurrency: int | None = None,
    queues: tuple[str, ...] | None = None,
    **changes: Any,
) -> WorkerSpec:
    """``spec`` with a new pool, concurrency or queues (None/empty: keep) or other fields, as a
    restart starts it (not validated). A pool that cannot autoscale drops the autoscale."""
    new = replace(
        spec,
        **changes,
        pool=pool or spec.pool,
        concurrency=concurrency if concurrency is not None else spec.concurrency,
        queues=queues or spec.queues,
    )
    if pool and pool != spec.pool and new.autoscale and pool not in LIVE_RESIZE_POOLS:
        new = replace(new, autoscale=None)
    return new


def parse_queues(text: str) -> tuple[str, ...]:
    """``"invoices, default"`` → ``("invoices", "default")``; validation happens in the spec."""
    return tuple(q.strip() for q in text.split(",") if q.strip())


def parse_autoscale(text: str) -> tuple[int, int]:
    try:
        high, low = (int(part) for part in text.split(","))
    except ValueError:
        raise SpecError([f"autoscale {text!r}: give max,min such as 8,2"]) from None
    return high, low


def default_concurrency(pool: str) -> int:
    """What ops staff start with: one process per core, many greenlets, a few threads."""
    return {"prefork": cores(), "gevent": 100, "threads": 10, "solo": 1}.get(pool, 1)
