"""One builder per fix, whichever rule or table row offers it.

The warning card's Fix… and the Pool fit table's Fix… for the same change showed two dialogs
("Shrink… (live, no restart)" with a Resize button, "Resize… (live)" with OK): a user could not
tell they were the same action. Every rule builds its fix here, so the same fix always carries
the same words; the window shows them in one dialog (``desktop/views/fix_confirm.py``).
"""

from __future__ import annotations

from pooldesk.backend.advisor.model import Fix

SLOTS = {"prefork": ("process", "processes"), "gevent": ("greenlet", "greenlets")}
SLOTS_DEFAULT = ("thread", "threads")


def slots(pool: str | None, count: int) -> str:
    """``4 processes`` (prefork), ``100 greenlets`` (gevent), ``1 thread``."""
    one, many = SLOTS.get(pool or "prefork", SLOTS_DEFAULT)
    return f"{count:,} {one if count == 1 else many}"


def resize(name: str, pool: str | None, now: int | None, to: int) -> Fix:
    """Live for prefork and gevent (Celery's pool_grow/pool_shrink): nothing restarts."""
    verb = "Shrink" if now is not None and to < now else "Grow"
    was = f" from {now:,}" if now is not None else ""
    return Fix(
        "resize_worker",
        {"name": name, "concurrency": to},
        f"{verb} worker {name}{was} to {slots(pool, to)}, live: running tasks go on, "
        "nothing restarts.",
    )


def restart(name: str, pool: str, to: int, now_pool: str | None, now: int | None) -> Fix:
    was = f" (now {now_pool} × {now:,})" if now_pool and now is not None else ""
    return Fix(
        "restart_worker",
        {"name": name, "pool": pool, "concurrency": to},
        f"Restart worker {name} as {pool} × {to:,}{was}; running tasks finish first.",
    )
