"""What the Start dialog proposes: queues that fit the chosen pool, the pool the Pool fit table
recommends, a free name and the project last started.

A default is the answer most people accept unread, so it must never be the trap Pooldesk warns
about: all of a project's queues on gevent put its CPU-bound queue on one event loop (measured:
a 1 s CPU task on gevent × 50 finishes 1 task/s, the same as solo). So a queue whose nature is
known (measured by the in-worker probe, else declared in settings or by the task's ``nature=``)
is only proposed for a pool that runs it well; what is left out is said, with why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# The one free-name scheme (workers/names.py), re-exported where the Start dialog looks.
from pooldesk.backend.workers.names import free_name as free_name

# Which natures each pool runs well. ``unknown`` is everywhere except where a wrong guess is the
# trap itself: nothing is known, and leaving the queue out would hide it.
SUITS: dict[str, frozenset[str]] = {
    "prefork": frozenset({"cpu", "mixed", "blocking", "unknown"}),
    "gevent": frozenset({"io", "unknown"}),
    "threads": frozenset({"io", "blocking", "unknown"}),
    "solo": frozenset({"cpu", "io", "mixed", "blocking", "unknown"}),
}
WHY_NOT = {
    "cpu": "CPU-bound",
    "blocking": "blocks the event loop (a call gevent cannot patch)",
    "mixed": "has CPU-bound tasks",
    "io": "waits on I/O (a gevent pool runs many at once)",
}


@dataclass(frozen=True)
class Nature:
    nature: str  # cpu | io | blocking | mixed | unknown
    how: str  # "measured" | "declared" | ""


@dataclass
class Proposal:
    queues: list[str]
    left_out: list[tuple[str, str]] = field(default_factory=list)  # (queue, why in words)

    def note(self, pool: str) -> str:
        """One sentence for the dialog; empty when every queue fits."""
        if not self.left_out:
            return ""
        parts = [f"{queue} {why}" for queue, why in self.left_out]
        return f"Not proposed for {pool}: {'; '.join(parts)}."


def natures_of(
    queues: Iterable[str], fit_rows: Iterable[Any], declared: Mapping[str, str] | None = None
) -> dict[str, Nature]:
    """Per queue: the measured nature when the probe has one, else the declared one."""
    rows = {row.queue: row for row in fit_rows}
    out: dict[str, Nature] = {}
    for queue in queues:
        row = rows.get(queue)
        measured = getattr(row, "nature", None)
        if measured and measured != "unknown":
            out[queue] = Nature(measured, "measured")
            continue
        said = getattr(row, "declared", None) or (declared or {}).get(queue)
        out[queue] = Nature(said, "declared") if said else Nature("unknown", "")
    return out


def propose(pool: str, queues: Iterable[str], natures: Mapping[str, Nature]) -> Proposal:
    """The queues of ``queues`` that ``pool`` runs well, in order; the others with why."""
    suits = SUITS.get(pool, SUITS["solo"])
    proposal = Proposal([])
    for queue in queues:
        nature = natures.get(queue, Nature("unknown", ""))
        if nature.nature in suits:
            proposal.queues.append(queue)
        else:
            why = WHY_NOT.get(nature.nature, nature.nature)
            proposal.left_out.append((queue, f"{why} ({nature.how})" if nature.how else why))
    return proposal


@dataclass(frozen=True)
class Recommendation:
    pool: str
    concurrency: int | None
    queues: tuple[str, ...]


def recommended(queues: Iterable[str], fit_rows: Iterable[Any]) -> Recommendation | None:
    """The Pool fit table's recommendation for one of ``queues`` (the first with one), with
    every queue that shares it."""
    wanted = list(queues)
    rows = [r for r in fit_rows if r.queue in wanted and getattr(r, "recommended_pool", None)]
    if not rows:
        return None
    first = rows[0]
    same = tuple(r.queue for r in rows if r.recommended_pool == first.recommended_pool)
    return Recommendation(first.recommended_pool, first.recommended_concurrency, same)


def last_project(workers: Iterable[Any]) -> str | None:
    """The project of the local worker started last (``None`` when none has one)."""
    started = [
        w for w in workers if not getattr(w, "remote", False) and getattr(w, "project", None)
    ]
    if not started:
        return None
    latest = max(started, key=lambda w: getattr(w, "started_at", None) or 0.0)
    return str(latest.project)
