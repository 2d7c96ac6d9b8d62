"""A project's check in plain words, for the window (the CLI prints the same facts as a list)."""

from __future__ import annotations

import time
from typing import Any

from pooldesk.backend.units import ago


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def plain_words(check: dict[str, Any] | None, managed_broker: bool = False) -> list[str]:
    """Sentences from ``CheckResult.public()`` (URLs already masked)."""
    if check is None:
        return ["Not checked yet: press Check to import the app once in its own interpreter."]
    if check.get("error"):
        return [f"The app does not import: {check['error']}"]
    tasks = check.get("tasks") or []
    queues = [q for q in check.get("queues") or [] if q]
    pools = check.get("pools") or {}
    can = [p for p, why in pools.items() if not why]
    lines = [
        f"Python {check.get('python')} with Celery {check.get('celery')}.",
        (
            f"Its workers run on Pooldesk's managed broker (the app's own, "
            f"{check.get('broker_url')}, is not used)."
            if managed_broker
            else f"Its workers run on the app's own broker: {check.get('broker_url')}."
        ),
        f"{len(tasks)} task{'s' if len(tasks) != 1 else ''} on "
        f"queue{'s' if len(queues) != 1 else ''} {_join(queues) if queues else '(none)'}"
        f" (default queue {check.get('default_queue')}).",
        f"This environment can run {_join(can)}." if can else "No pool can run here.",
    ]
    lines += [f"Not {pool}: {why}." for pool, why in pools.items() if why]
    return lines


def checked_words(check: dict[str, Any] | None, now: float | None = None) -> str:
    """``"checked on host-a 3 min ago"`` from ``ProjectStore.shown_check``; "not checked yet"."""
    if check is None:
        return "not checked yet"
    where = f" on {check['checked_on']}" if check.get("checked_on") else ""
    at = check.get("checked_at")
    if not isinstance(at, int | float) or isinstance(at, bool):
        return f"checked{where}"
    return f"checked{where} {ago((time.time() if now is None else now) - at)}"


def broker_words(
    check: dict[str, Any] | None, managed_broker: bool, managed: str = "managed (Pooldesk's)"
) -> str:
    """The broker a project's workers use, masked, as a list row shows it."""
    if managed_broker:
        return managed
    if check is None:
        return "not checked yet"
    if check.get("error"):
        return "unknown: the app did not import"
    return str(check.get("broker_url") or "the app's default")
