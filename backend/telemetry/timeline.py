"""The Timeline's spans: one bar per started task on its worker's slot (hostname, pid).

Two sources, merged here: the in-worker probe's exact runs (start, wall time, loop hold; see
``fitstate.FitFold.runs``) where a worker has the probe, and the task events' started/ended
stamps for workers without it and for tasks still running. Called from any thread while the
monitor thread keeps folding events in, so it copies every deque it reads (``list(deque)`` is
one C call) and never iterates a live one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

from pooldesk.backend.telemetry.eventparts import Task
from pooldesk.backend.telemetry.views import Span

SPANS_PER_QUEUE = 2_000  # the newest started tasks per queue, for the timeline

# (task id, queue, pid, start, wall, hold, hold max, offset of the hold): FitFold.runs' items
Run = tuple[str, str, int, float, float, float, float, float]


def spans_of(
    spans: Mapping[str, deque[Task]],
    runs: Mapping[str, deque[Run]],
    tasks: Mapping[str, Task],
    queue: str | None = None,
    prefix: str | None = None,
    limit: int = SPANS_PER_QUEUE,
) -> list[Span]:
    """Spans oldest first: those of one ``queue``, and/or whose id starts with ``prefix`` (a
    batch's children); probed runs win over the events' view of the same task."""
    queues = [queue] if queue is not None else list(spans)
    started: list[Task] = []
    for name in queues:
        kept_tasks = spans.get(name)
        if kept_tasks is not None:
            started.extend(list(kept_tasks))  # list(deque) is one C call: no mutation mid-copy
    if prefix is not None:
        started = [t for t in started if t.id.startswith(prefix)]
    out: list[Span] = []
    probed: set[str] = set()
    for host, kept in list(runs.items()):
        for task_id, q, pid, start, wall, hold, hold_max, at in list(kept):
            if (queue is not None and q != queue) or (
                prefix is not None and not task_id.startswith(prefix)
            ):
                continue
            known = tasks.get(task_id)
            probed.add(task_id)
            out.append(
                Span(
                    task_id,
                    known.name if known else None,
                    q,
                    host,
                    pid,
                    start,
                    start + wall,
                    known.state if known else None,
                    hold,
                    hold_max,
                    start + at,
                )
            )
    out.extend(  # workers without the probe, and tasks still running: from events
        Span(t.id, t.name, t.queue, t.hostname or "?", t.pid, t.started, t.ended, t.state)
        for t in started
        if t.started is not None and t.id not in probed
    )
    out.sort(key=lambda s: s.started)
    return out[-limit:]
