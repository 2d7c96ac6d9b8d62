"""A worker start's outcome in words: online (and how fast), or why it ended while starting.

Plain text from a :class:`~pooldesk.backend.workers.info.WorkerInfo`, no Qt: the window's worker
service reports these when it has watched a start (or a restart) to its end, and any other client
may.
"""

from __future__ import annotations

from pooldesk.backend.workers.info import WorkerInfo
from pooldesk.backend.workers.states import describe_exit

UNKNOWN_EXIT = describe_exit(None)  # a process gone before its supervisor recorded how


def ready_text(op: str, info: WorkerInfo) -> str:
    """ "w1 is online (prefork × 4, ready in 2.1 s)." for a start; "w1 restarted as …" else."""
    ready = f", ready in {info.ready_seconds:.1f} s" if info.ready_seconds else ""
    shape = f"{info.pool} × {info.concurrency}"
    if op == "start":
        return f"{info.name} is online ({shape}{ready})."
    return f"{info.name} restarted as {shape}{ready}."


def start_failure(info: WorkerInfo) -> str:
    """A worker that crashed or stopped while starting: a summary with its exit, then (after a
    blank line) the last lines of its log, which usually say why (an import error, a bad
    queue)."""
    how = info.exit or UNKNOWN_EXIT
    summary = f"{info.name} {'crashed' if info.state == 'crashed' else 'stopped'} while starting"
    lines = [line for line in info.last_log if line.strip()]
    detail = "\n".join(lines) if lines else "(its log is empty)"
    return f"{summary} ({how}).\n\nLast lines of its log:\n{detail}"
