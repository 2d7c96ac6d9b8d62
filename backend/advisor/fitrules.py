"""Advice from measured task natures (the in-worker probe's ``worker-fit``), for any queue.

- the gevent trap, *critical*, for a queue whose tasks held this gevent worker's loop (``cpu``
  or ``blocking``), named with the task and its measured hold — no declaration needed;
- an I/O-looking queue measured under prefork only: a *trial* (a small gevent worker beside the
  existing one), never a blind switch — a blocking driver looks exactly like I/O from prefork;
- a declared nature that the measurements contradict (``nature_mismatch``).
"""

from __future__ import annotations

from pooldesk.backend.advisor.model import Advice, Observations, Thresholds, WorkerObs
from pooldesk.backend.fit.nature import Measured, of_task, of_tasks
from pooldesk.backend.fit.table import (
    gevent_sizing,
    holds_loop,
    limits,
    measured_tasks,
    prefork_sizing,
    trap_fix,
    trial_fix,
)
from pooldesk.backend.units import MiB

HOLDING = frozenset({"cpu", "blocking"})


def measured_nature(
    obs: Observations, th: Thresholds, queue: str, worker: WorkerObs | None = None
) -> Measured | None:
    """The queue's measured nature (on one worker, or all), None while unknown."""
    tasks = measured_tasks(obs, queue, worker)
    if not tasks:
        return None
    m = of_tasks(tasks, limits(th))
    return None if m.nature == "unknown" else m


def measured_trap(obs: Observations, th: Thresholds, w: WorkerObs) -> Advice | None:
    """Critical: tasks of this gevent worker held its loop, whatever any declaration says."""
    queues: list[str] = []
    evidence_tasks: list[dict[str, object]] = []
    worst: Measured | None = None
    for queue in w.queues:
        m = measured_nature(obs, th, queue, w)
        if m is None or not holds_loop(m, th):
            continue
        queues.append(queue)
        if worst is None or (m.hold_max_s or 0) > (worst.hold_max_s or 0):
            worst = m
        for t in measured_tasks(obs, queue, w):
            tm = of_task(t, limits(th))
            if tm.nature in HOLDING:
                evidence_tasks.append(
                    {
                        "task": t.task,
                        "queue": queue,
                        "nature": tm.nature,
                        "runs": t.runs,
                        "hold_max_s": round(t.hold_max_s, 3),
                        "hold_share": round(tm.hold_share or 0, 3),
                        "cpu_share": round(tm.cpu_share or 0, 3),
                    }
                )
    if worst is None:
        return None
    sizing = prefork_sizing(obs, worst.cpu_share or 0.0)
    natures = sorted({str(t["nature"]) for t in evidence_tasks})
    evidence: dict[str, object] = {
        "pool": "gevent",
        "concurrency": w.concurrency,
        "queues": queues,
        "nature": "/".join(natures),
        "tasks": evidence_tasks[:5],
        "hold_max_ms": round((worst.hold_max_s or 0) * 1000, 1),
        "hold_share": round(worst.hold_share or 0, 3),
        "cpu_share": round(worst.cpu_share or 0, 3),
        "recommended": f"prefork × {sizing.concurrency}",
        "formula": sizing.formula,
    }
    if w.loop_lag_ms_max is not None:
        evidence["loop_lag_ms_max"] = w.loop_lag_ms_max
    if w.cores_used is not None:
        evidence["cores_used"] = round(w.cores_used, 2)
    first = evidence_tasks[0] if evidence_tasks else {}
    why = (
        "computing in Python"
        if natures == ["cpu"]
        else "blocked in a call that does not yield (a database driver, say)"
        if natures == ["blocking"]
        else "computing or blocked in calls that do not yield"
    )
    text = (
        f"On {w.shown} (gevent × {w.concurrency}) task {first.get('task')} held the event loop "
        f"for up to {(worst.hold_max_s or 0) * 1000:.0f} ms at a time ({worst.hold_share or 0:.0%} "
        f"of its run, {worst.cpu_share or 0:.0%} CPU): {why}. While one task holds the loop "
        f"no other greenlet runs, so queue {', '.join(queues)} runs one task at a time whatever "
        f"the concurrency. Prefork × {sizing.concurrency} runs them side by side."
    )
    return Advice(
        f"cpu-under-gevent:{w.hostname}",
        "cpu_under_gevent",
        "critical",
        f"Tasks hold the gevent loop: {', '.join(queues)} runs one at a time ({w.shown})",
        text,
        evidence,
        trap_fix(obs, w, queues, sizing.concurrency),
    )


def trial_or_switch(
    obs: Observations, th: Thresholds, w: WorkerObs, queues: list[str], per_slot: float
) -> Advice:
    """A wide prefork pool on queues that only *look* like I/O from prefork: try gevent first."""
    queue = queues[0]
    running = [t for t in obs.consumers(queue) if t.pool == "gevent" and t.name != w.name]
    text = (
        f"{w.shown} keeps {w.concurrency} processes (≈{per_slot / MiB:.0f} MiB each) for "
        f"{', '.join(queues)}, whose tasks use little CPU: they wait. From prefork Pooldesk "
        "cannot tell a cooperative wait (gevent would run hundreds at once) from a driver that "
        "blocks the thread (gevent would run them one at a time). "
    )
    if running:
        text += f"The trial on {running[0].name} is collecting runs; the verdict follows."
        fix = None
    else:
        text += "A small gevent trial beside it tells, without risking the queue."
        fix = trial_fix(queue, th.trial_concurrency, w.name if w.local else None)
    return Advice(
        f"io-under-prefork:{w.hostname}",
        "io_under_prefork",
        "warning",
        f"Queue {queue} waits on a wide prefork pool ({w.shown}): try gevent",
        text,
        {
            "pool": "prefork",
            "concurrency": w.concurrency,
            "uss_bytes": w.uss_bytes,
            "uss_per_slot_bytes": int(per_slot),
            "queues": w.queues,
            "measured_on": "prefork",
        },
        fix if w.local or fix is None else None,
    )


def greenlets_for(
    obs: Observations, th: Thresholds, w: WorkerObs, natures: dict[str, str | None]
) -> int:
    """From the measured runs on gevent when there are some (``fit.table.gevent_sizing``),
    else the rule of thumb for a declared I/O queue."""
    sizes = []
    for queue, how in natures.items():
        m = measured_nature(obs, th, queue) if how == "verified" else None
        if m is not None:
            sizes.append(gevent_sizing(obs, queue, m).concurrency)
    return max(sizes) if sizes else max(100, 10 * (w.concurrency or 1))


def io_nature(obs: Observations, th: Thresholds, queue: str) -> str | None:
    """How a queue is known to be I/O: ``declared`` or ``verified`` (gevent runs yield) when a
    switch to gevent is safe, ``measured`` when only prefork numbers say it waits; None when
    it is not an I/O queue."""
    m = measured_nature(obs, th, queue)
    if m is not None:
        if m.nature != "io":
            return None
        return (
            "verified"
            if m.pool == "gevent"
            else ("declared" if obs.natures.get(queue) == "io" else "measured")
        )
    return "declared" if obs.natures.get(queue) == "io" else None


def nature_mismatch(obs: Observations, th: Thresholds) -> list[Advice]:
    """A declared nature the measurements contradict is a finding of its own."""
    out = []
    for queue in sorted({t.queue for w in obs.workers for t in (w.fit or [])}):
        m = measured_nature(obs, th, queue)
        if m is None or (m.mean_wall_s or 0) * 1000 < th.fit_min_wall_ms:
            continue
        declared = obs.natures.get(queue) or next(
            (t.declared for t in measured_tasks(obs, queue) if t.declared), None
        )
        if declared not in ("cpu", "io"):
            continue
        holds = m.nature in HOLDING if m.pool == "gevent" else m.nature == "cpu"
        waits = m.nature == "io"
        if not ((declared == "io" and holds) or (declared == "cpu" and waits)):
            continue
        out.append(
            Advice(
                f"nature-mismatch:{queue}",
                "nature_mismatch",
                "warning",
                f"Queue {queue} is declared {declared} but measures {m.nature}",
                f"Queue {queue} is declared {declared}, but {m.runs} runs on {m.pool} measured "
                f"{m.nature} ({m.basis}). Pooldesk follows the measurement; correct the "
                "declaration (the task's nature option, or the queue's nature in the advisor "
                "part of settings.json).",
                {
                    "queue": queue,
                    "declared": declared,
                    "measured": m.nature,
                    "measured_on": m.pool,
                    "runs": m.runs,
                    "cpu_share": round(m.cpu_share or 0, 3),
                    "hold_share": None if m.hold_share is None else round(m.hold_share, 3),
                },
                None,
            )
        )
    return out
