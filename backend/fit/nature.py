"""What a task really does to its pool, from the probe's totals: ``cpu``, ``blocking``, ``io``,
``mixed`` or ``unknown``.

Under gevent the probe times how long each task held the event loop without yielding: a task
that holds it for most of its run is ``cpu`` when that time was CPU, ``blocking`` when it was
not (a C call waiting on a socket: the database driver gevent cannot patch). Under prefork,
solo and threads only CPU time is known: little CPU means the task waits, but whether the wait
would *yield* under gevent cannot be told from there — so such a queue is ``io`` with that
caveat, and the advisor offers a gevent *trial* rather than a switch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pooldesk.backend.telemetry.fitstate import TaskFit
from pooldesk.backend.units import plural

NATURES = ("cpu", "blocking", "io", "mixed", "unknown")


@dataclass(frozen=True)
class Limits:
    min_runs: int = 3  # fewer runs: unknown
    cpu_high: float = 0.7  # CPU / wall at or above: cpu (prefork, solo, threads)
    cpu_low: float = 0.3  # at or below: waits (io)
    hold_high: float = 0.6  # gevent: loop hold / wall at or above: holds the loop
    hold_low: float = 0.2  # at or below: yields (io)
    cpu_of_hold: float = 0.5  # gevent: CPU / hold at or above: cpu, below: blocking
    short_hold_s: float = 0.01  # gevent: a task never holding the loop longer than this yields


@dataclass(frozen=True)
class Measured:
    nature: str
    pool: str  # the pool the numbers come from
    runs: int
    cpu_share: float | None  # CPU demand (CPU used or waited for) / wall time
    hold_share: float | None  # gevent: loop hold / wall time; None under other pools
    mean_wall_s: float | None
    mean_cpu_s: float | None
    mean_hold_s: float | None
    hold_max_s: float | None
    basis: str  # why, in a few words


def classify(
    runs: int,
    wall_s: float,
    cpu_s: float,  # CPU demand: CPU time plus waits for a core, where known
    hold_s: float,
    hold_max_s: float,
    pool: str,
    limits: Limits | None = None,
    shares: tuple[float, float] | None = None,
) -> Measured:
    """``shares``: (CPU, hold) shares of the task's own time (``own_shares``), when known; else
    the shares of the plain wall (which sink under gevent when tasks wait for each other)."""
    lim = limits or Limits()
    gevent = pool == "gevent"
    if runs <= 0 or wall_s <= 0:
        return Measured("unknown", pool, runs, None, None, None, None, None, None, "no runs yet")
    cpu_share = min(1.0, shares[0] if shares else cpu_s / wall_s)
    hold_share = min(1.0, shares[1] if shares else hold_s / wall_s) if gevent else None
    means = (wall_s / runs, cpu_s / runs, hold_s / runs if gevent else None)
    hold_max = hold_max_s if gevent else None

    def made(nature: str, basis: str) -> Measured:
        return Measured(nature, pool, runs, cpu_share, hold_share, *means, hold_max, basis)

    if runs < lim.min_runs:
        return made("unknown", f"{plural(runs, 'run')} so far; {lim.min_runs} needed")
    if gevent:
        assert hold_share is not None
        if hold_max_s < lim.short_hold_s:  # never held the loop long: it yields, whatever
            return made(  # the contended shares say (its waits were others' holds)
                "io", f"never held the loop more than {hold_max_s * 1000:.1f} ms at a time"
            )
        if hold_share >= lim.hold_high:
            cpu_of_hold = min(1.0, cpu_s / hold_s) if hold_s > 0 else 0.0
            if cpu_of_hold >= lim.cpu_of_hold:
                return made("cpu", f"holds the loop {hold_share:.0%} of its run, computing")
            return made(
                "blocking",
                f"holds the loop {hold_share:.0%} of its run with {cpu_of_hold:.0%} CPU: "
                "a call that blocks without yielding",
            )
        if hold_share <= lim.hold_low:
            return made("io", f"yields: holds the loop only {hold_share:.0%} of its run")
        return made("mixed", f"holds the loop {hold_share:.0%} of its run")
    if cpu_share >= lim.cpu_high:
        return made("cpu", f"CPU {cpu_share:.0%} of its run")
    if cpu_share <= lim.cpu_low:
        return made(
            "io",
            f"CPU {cpu_share:.0%} of its run: it waits (under {pool} a wait that would block "
            "a gevent loop looks the same: only a gevent trial tells)",
        )
    return made("mixed", f"CPU {cpu_share:.0%} of its run")


def own_shares(demand_s: float, hold_s: float, own_wall_s: float) -> tuple[float, float] | None:
    """(CPU share, hold share) of the task's own time: its wall less the loop holds of others
    while it waited (gevent); None when unknown."""
    if own_wall_s <= 0:
        return None
    return min(1.0, demand_s / own_wall_s), min(1.0, hold_s / own_wall_s)


def shares_of(tasks: list[TaskFit]) -> tuple[float, float] | None:
    """The shares that tell most: those of the *quiet* runs (no other task's hold in their
    way: exact) when there are any, else the own-time estimate of all runs (under heavy
    contention it leans towards "holds the loop": the safe side)."""
    quiet = [t.quiet for t in tasks if t.quiet and t.quiet[0] > 0]
    if quiet:
        wall = sum(q[1] for q in quiet)
        return own_shares(sum(q[2] for q in quiet), sum(q[3] for q in quiet), wall)
    return own_shares(
        sum(t.demand_s for t in tasks),
        sum(t.hold_s for t in tasks),
        sum(t.own_wall_s for t in tasks),
    )


def of_task(task: TaskFit, limits: Limits | None = None) -> Measured:
    return classify(
        task.runs,
        task.wall_s,
        task.demand_s,
        task.hold_s,
        task.hold_max_s,
        task.pool,
        limits,
        shares_of([task]),
    )


def of_tasks(tasks: Iterable[TaskFit], limits: Limits | None = None) -> Measured:
    """One nature for several tasks (a queue): gevent numbers first, they tell more."""
    items = list(tasks)
    if not items:
        return classify(0, 0.0, 0.0, 0.0, 0.0, "?", limits)
    lim = limits or Limits()
    gevent = [t for t in items if t.pool == "gevent"]
    if sum(t.runs for t in gevent) >= lim.min_runs:
        chosen = gevent
    else:
        others = [t for t in items if t.pool != "gevent"]
        chosen = others if sum(t.runs for t in others) >= lim.min_runs else items
    pools = {t.pool for t in chosen}
    shares = shares_of(chosen)
    return classify(
        sum(t.runs for t in chosen),
        sum(t.wall_s for t in chosen),
        sum(t.demand_s for t in chosen),
        sum(t.hold_s for t in chosen),
        max(t.hold_max_s for t in chosen),
        pools.pop() if len(pools) == 1 else "prefork" if "prefork" in pools else min(pools),
        limits,
        shares,
    )
