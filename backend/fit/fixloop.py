"""A fix closes its loop: what a queue measured before Fix…, and after it, from the same figures.

Issue 21: after Fix… (gevent × 20 → prefork × 2, which worked) the Pool fit row said "no
probe in its workers" until new tasks ran, and nothing ever showed whether the fix helped.
Now :func:`note` writes, when a fix is applied, the queues it touches with their *before*
figures to ``$POOLDESK_HOME/fixes.json`` (so ``pooldesk fit`` in another process knows too);
:func:`annotate` then marks each such row "measuring after the fix" until runs on the new
shape arrive, and fills ``before``/``after`` from the same measurements:

- ``cores_used``: CPU the queue's workers used (Δ CPU time / Δ wall of their process trees);
- ``seconds_per_task``: the mean wall time of a run (the probe's per-task totals);
- ``tasks_at_a_time``: throughput × seconds per task (Little's law: 1.0 for a trapped gevent
  pool whatever its concurrency, ≈ 2 for prefork × 2 on a CPU-bound queue);
- ``pool``: the shape, e.g. ``gevent × 20``; ``tasks_per_s`` when the events carry it.

``faster`` is after ÷ before of the throughput (tasks at a time ÷ seconds per task).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from pooldesk.backend import paths
from pooldesk.backend.advisor.model import Fix, Observations, WorkerObs
from pooldesk.backend.fit.table import QueueFit
from pooldesk.backend.fsutil import read_json, write_json_atomic

KEEP_S = 3600.0  # a fix older than this is history, not a loop to close
KEEP = 20
AFTER_MIN_RUNS = 3  # runs on the new shape before "after" is shown


def _path() -> Path:
    return paths.home() / "fixes.json"


def _consumers(obs: Observations, queue: str) -> list[WorkerObs]:
    return [w for w in obs.workers if queue in w.queues and w.state in ("online", "online-remote")]


def measure(obs: Observations, row: QueueFit) -> dict[str, Any]:
    """The figures compared before and after, for one queue as it runs now."""
    workers = _consumers(obs, row.queue)
    cores = [w.cores_used for w in workers if w.cores_used is not None]
    rates = [w.tasks_per_s for w in workers if w.tasks_per_s is not None]
    per_task = row.mean_wall_s
    rate = sum(rates) if rates else None
    at_a_time = rate * per_task if rate is not None and per_task else None
    shapes = sorted({f"{w.pool} × {w.concurrency}" for w in workers})
    return {
        "pool": ", ".join(shapes) or None,
        "cores_used": round(sum(cores), 2) if cores else None,
        "seconds_per_task": round(per_task, 3) if per_task else None,
        "tasks_at_a_time": round(at_a_time, 2) if at_a_time is not None else None,
        "tasks_per_s": round(rate, 2) if rate is not None else None,
        "runs": row.runs,
    }


def queues_of(fix: Fix, obs: Observations) -> list[str]:
    """The queues a fix changes: those it starts a worker for, or the worker's own."""
    params = fix.params
    if params.get("queues"):
        return list(params["queues"])
    worker = next((w for w in obs.workers if w.name == params.get("name")), None)
    return list(worker.queues) if worker is not None else []


def note(
    fix: Fix, obs: Observations | None, rows: list[QueueFit], path: Path | None = None
) -> None:
    """Remember an applied fix with the before figures of the queues it touches."""
    path = path or _path()
    by_queue = {r.queue: r for r in rows}
    queues = queues_of(fix, obs) if obs is not None else list(fix.params.get("queues") or [])
    before = {q: measure(obs, by_queue[q]) for q in queues if obs is not None and q in by_queue}
    records = [r for r in (read_json(path) or []) if isinstance(r, dict)]
    records.append(
        {"at": time.time(), "kind": fix.kind, "params": _jsonable(fix.params), "queues": queues,
         "before": before}
    )  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, records[-KEEP:])


def forget_last(path: Path | None = None) -> None:
    """The fix just noted did not happen (it failed): no "measuring after the fix" for it."""
    path = path or _path()
    records = [r for r in (read_json(path) or []) if isinstance(r, dict)]
    if records:
        write_json_atomic(path, records[:-1])


def recent(now: float | None = None, path: Path | None = None) -> list[dict[str, Any]]:
    now = time.time() if now is None else now
    records = read_json(path or _path()) or []
    return [r for r in records if isinstance(r, dict) and now - float(r.get("at", 0)) < KEEP_S]


def annotate(
    rows: list[QueueFit], obs: Observations, records: list[dict[str, Any]]
) -> list[QueueFit]:
    """Rows of queues with a recent fix: "measuring after the fix", then before/after."""
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        for queue in record.get("queues") or []:
            latest[queue] = record
    out = []
    for row in rows:
        noted = latest.get(row.queue)
        if noted is None:
            out.append(row)
            continue
        before = (noted.get("before") or {}).get(row.queue)
        now = measure(obs, row)
        shape_changed = before is None or now["pool"] != before.get("pool")
        measured = row.runs >= AFTER_MIN_RUNS and row.verdict not in ("unmeasured", "unknown")
        if not (shape_changed and measured):
            out.append(
                replace(
                    row, verdict="after_fix", severity=None, fix=None, before=before,
                    recommendation="measuring after the fix: waiting for runs on the new shape",
                )
            )  # fmt: skip
            continue
        out.append(replace(row, before=before, after=now, faster=faster(before, now)))
    return out


def _throughput(figures: dict[str, Any] | None) -> float | None:
    if not figures:
        return None
    if figures.get("tasks_per_s"):
        return float(figures["tasks_per_s"])
    at, per = figures.get("tasks_at_a_time"), figures.get("seconds_per_task")
    return float(at) / float(per) if at and per else None


def faster(before: dict[str, Any] | None, after: dict[str, Any] | None) -> float | None:
    was, now = _throughput(before), _throughput(after)
    if not was or not now:
        cores_was = (before or {}).get("cores_used")
        cores_now = (after or {}).get("cores_used")
        return round(cores_now / cores_was, 2) if cores_was and cores_now else None
    return round(now / was, 2)


def summary(row: QueueFit) -> str | None:
    """``was 0.99 cores on gevent × 20, now 1.80 on prefork × 2: 1.8× faster``."""
    return summary_of(row.before, row.after, row.faster)


def summary_of(
    before: dict[str, Any] | None, after: dict[str, Any] | None, speed: float | None
) -> str | None:
    if not before or not after:
        return None
    was = _figure(before)
    now = _figure(after, short=True)
    ratio = f": {speed:.1f}× faster" if speed else ""
    return f"was {was}, now {now}{ratio}"


def _figure(f: dict[str, Any], short: bool = False) -> str:
    parts = []
    if f.get("cores_used") is not None:
        parts.append(f"{f['cores_used']:.2f}" + ("" if short else " cores"))
    if f.get("tasks_at_a_time") is not None:
        parts.append(f"{f['tasks_at_a_time']:.1f} at a time")
    if f.get("seconds_per_task") is not None:
        parts.append(f"{f['seconds_per_task']:.2f} s per task")
    return ", ".join(parts) + (f" on {f['pool']}" if f.get("pool") else "")


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}
