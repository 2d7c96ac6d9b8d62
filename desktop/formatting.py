"""Backend values as the window shows them: sizes, percentages, the broker's status line."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pooldesk.backend import units

if TYPE_CHECKING:  # the broker package imports redis and kombu: not before the first paint
    from pooldesk.backend.broker.status import BrokerStatus

DASH = "–"


def human_bytes(value: int | None) -> str:
    """``1258291`` → ``"1.2 MiB"`` (binary units, as the CLI prints them)."""
    return units.human_bytes(value, missing=DASH)


def percent(value: float | None) -> str:
    return DASH if value is None else f"{value:.1f}"


def broker_line(status: BrokerStatus) -> str:
    """One line for the status bar; ``status.url`` and ``status.error`` are already masked."""
    if not status.up:
        error = status.error or "no answer"
        if error.lower().startswith("broker unreachable"):  # already says so, with the URL
            return "B" + error[1:]
        return f"Broker unreachable: {error}"
    kind = "managed " if status.managed else ""
    parts = ["up"]
    if status.memory_bytes is not None:
        parts.append(human_bytes(status.memory_bytes))
    if status.queues:
        waiting = {q: n for q, n in status.queues.items() if n}
        # Only the queues with a backlog: that is what to look at; the tooltip lists them all.
        parts.append(
            "queues: " + " · ".join(f"{q} {n:,}" for q, n in waiting.items())
            if waiting
            else "queues empty"
        )
    return f"Broker: {kind}{status.url} — {', '.join(parts)}"


def broker_tooltip(status: BrokerStatus) -> str:
    lines = [f"{'Managed' if status.managed else 'External'} broker at {status.url or '(none)'}"]
    if status.version:
        lines.append(f"Server version {status.version}")
    if status.pid:
        lines.append(f"Process {status.pid}")
    if status.queues:
        lines.append(
            "Messages waiting: " + ", ".join(f"{q} {n:,}" for q, n in status.queues.items())
        )
    if status.error:
        lines.append(status.error)
    return "\n".join(lines)
