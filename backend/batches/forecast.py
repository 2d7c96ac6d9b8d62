"""The forecast before a launch: how long a batch of a task takes on the queue's workers now, and
on the pool the Pool fit table recommends for it, with the numbers used.

Gathered within ``timeout_s`` (``forecast_sources``): the probe's per-task measurements heard on
the queue's broker for ~2.2 s, the task history's run times when no probe answers, and the items
the measured calls carried. Computed by the pure wave model (``forecast_model``). The
recommendation is the Pool fit table's own (``fit.table``), built from the same measurements,
so the forecast and the table never disagree on which pool fits.

Safe off the GUI thread (no Qt, no shared state); the broker listen runs in a daemon thread
joined with a deadline, so a broker that hangs costs ``timeout_s``, never more.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from pooldesk.backend.advisor.model import Thresholds
from pooldesk.backend.batches import forecast_model as fm
from pooldesk.backend.batches.forecast_pick import matches, recommended, same
from pooldesk.backend.batches.forecast_sources import (
    LISTEN_S,
    History,
    SourceError,
    autogroup,
    cpu_times,
    listen_fit,
    read_history,
    runnable_others,
    weight,
)
from pooldesk.backend.telemetry.fitstate import TaskFit, WorkerFit
from pooldesk.backend.workers.spec import cores as machine_cores

MARGIN_S = 0.5  # of timeout_s kept for connecting, the history read and the maths
LOAD_EVERY_S = 0.2  # how often the machine's runnable count is sampled during the listen


@dataclass(frozen=True)
class Consumer:
    name: str
    pool: str  # "prefork" | "gevent" | "threads" | "solo" ...
    concurrency: int


def forecast_batch(
    *,
    project: str | None,
    task: str,
    queue: str,
    items: int,
    children: int,
    consumers: list[Consumer],
    timeout_s: float = 3.0,
) -> dict[str, Any]:
    """Returns {"forecast": [{"pool": str, "concurrency": int, "seconds": float, "current": bool,
    "basis": str}, ...], "forecast_reason": str | None}."""
    if items <= 0 or children <= 0:
        return _none("nothing to run: the batch has no items")
    if not consumers:
        return _none(f"nothing consumes {queue}: start a worker for it to get a forecast")
    grouped = autogroup()
    views, error, others = _listen(project, timeout_s, grouped)
    history = History(0, None, None)
    with contextlib.suppress(Exception):  # a damaged history file: forecast without it
        history = read_history(task, queue)
    return forecast_from(
        task=task,
        queue=queue,
        items=items,
        children=children,
        consumers=consumers,
        views=views,
        history=history,
        cores=machine_cores(),
        thresholds=_thresholds(),
        heard_error=error,
        load=_load(others, grouped) if _local(views, consumers) else fm.IDLE,
    )


def forecast_from(
    *,
    task: str,
    queue: str,
    items: int,
    children: int,
    consumers: list[Consumer],
    views: dict[str, WorkerFit],
    history: History,
    cores: int,
    thresholds: Thresholds | None = None,
    heard_error: str | None = None,
    load: fm.Load = fm.IDLE,
) -> dict[str, Any]:
    """The forecast from measurements already gathered (the seam the unit tests drive);
    ``load``: the workers' machine's load now."""
    if not consumers:
        return _none(f"nothing consumes {queue}: start a worker for it to get a forecast")
    th = thresholds or Thresholds()
    fits = _task_fits(views, task, queue)
    factor, scale_note = _scale(history.items_per_call, items, children)
    note: str | None = None
    if fits:
        costs = {p: _cost([f for _, f in fits], p) for p in {c.pool for c in consumers}}
    elif history.runs and history.mean_runtime_s:
        cost = fm.from_runtimes(history.runs, history.mean_runtime_s, "?")
        costs = {c.pool: cost for c in consumers}
        why = heard_error or f"no worker's probe reported {task}"
        note = f"from task-history run times only ({why}): CPU share not measured"
    elif heard_error:
        return _none(f"{task}'s measurements could not be read: {heard_error}")
    else:
        return _none(
            f"{task} has not been measured yet: run a few calls on a worker Pooldesk "
            "started (its probe measures them), then ask again"
        )
    scaled = {p: (c.scaled(factor) if c else None) for p, c in costs.items()}
    rows = [_current_row(scaled, consumers, cores, items, children, scale_note, load)]
    rec = recommended(views, fits, consumers, queue, cores, th) if fits else None
    if rec and not same(rec, consumers):
        pool, n = rec
        cost = _cost([f for _, f in fits], pool)
        if cost is not None:
            row = _row(cost.scaled(factor), pool, n, cores, items, children, scale_note, load)
            rows.append(row)
    return {"forecast": [r for r in rows if r is not None], "forecast_reason": note}


def summary(result: dict[str, Any]) -> str:
    """The one line a person reads before launching: "≈ 60 min here; ≈ 15 min on prefork × 4"
    (or the reason there is no forecast), for the CLI's dry run and the dialog alike."""
    rows = result.get("forecast") or []
    if not rows:
        return str(result.get("forecast_reason") or "no forecast")
    parts = [
        f"{fm.human(float(r['seconds']))} "
        + ("here" if r.get("current") else f"on {r['pool']} × {r['concurrency']}")
        for r in rows
    ]
    return "; ".join(parts)


def _none(reason: str) -> dict[str, Any]:
    return {"forecast": [], "forecast_reason": reason}


def _listen(
    project: str | None, timeout_s: float, grouped: bool = False
) -> tuple[dict[str, WorkerFit], str | None, tuple[float, float, float | None] | None]:
    """The probe's reports on the project's broker, in a thread joined by the deadline; and,
    meanwhile, how many processes of others are runnable on this machine (the load now)."""
    budget = max(0.0, timeout_s - MARGIN_S)
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["views"] = listen_fit(_broker(project), min(LISTEN_S, budget))
        except SourceError as exc:
            out["error"] = str(exc)
        except Exception as exc:  # a project without a checked broker, a bad URL
            out["error"] = f"its broker could not be used ({type(exc).__name__})"

    thread = threading.Thread(target=run, name="forecast-listen", daemon=True)
    started = time.monotonic()
    thread.start()
    until = started + max(0.0, timeout_s - MARGIN_S / 2)
    samples: list[tuple[int, float]] = []
    first = cpu_times()
    while thread.is_alive() and time.monotonic() < until:
        sample = runnable_others(grouped)
        if sample is not None:
            samples.append(sample)
        thread.join(min(LOAD_EVERY_S, max(0.0, until - time.monotonic())))
    busy = None
    last = cpu_times()
    if samples:
        idle = None
        if first and last and last[1] > first[1]:
            idle = machine_cores() * (last[0] - first[0]) / (last[1] - first[1])
        busy = (
            sum(n for n, _ in samples) / len(samples),
            sum(w for _, w in samples) / len(samples),
            idle,
        )
    if thread.is_alive():
        return {}, f"the broker did not answer within {timeout_s:g} s", busy
    return out.get("views", {}), out.get("error"), busy


def _load(others: tuple[float, float, float | None] | None, grouped: bool) -> fm.Load:
    """The load now beside a worker Pooldesk started here (at nice ``worker_nice``)."""
    if others is None:
        return fm.IDLE
    nice = 0
    with contextlib.suppress(Exception):
        from pooldesk.backend import settings

        nice = settings.load().settings.worker_nice
    return fm.Load(others[0], others[1], grouped, weight(nice), others[2])


def _local(views: dict[str, WorkerFit], consumers: list[Consumer]) -> bool:
    """The queue's consumers run on this machine, so the load here is theirs: their reporting
    hostnames say so, or a bare name (a worker Pooldesk started here). Remote workers: the
    model assumes an idle machine."""
    here = socket.gethostname()
    for c in consumers:
        hosts = [h for h in views if matches(h, c.name)] or ([c.name] if "@" in c.name else [])
        if any(h.split("@", 1)[-1] != here for h in hosts):
            return False
    return True


def _broker(project: str | None) -> Any:
    from pooldesk.backend.broker.resolve import current_config
    from pooldesk.backend.projects.brokers import own_broker

    return own_broker(project) or current_config()


def _thresholds() -> Thresholds:
    try:
        from pooldesk.backend import settings

        return Thresholds.from_settings(dict(settings.load().settings.advisor or {}))
    except Exception:
        return Thresholds()


def _task_fits(views: dict[str, WorkerFit], task: str, queue: str) -> list[tuple[str, TaskFit]]:
    """(host, totals) of ``task``: its runs on ``queue`` when there are any, else on any queue
    (the same code measured behind another route)."""
    found = [(h, t) for h, w in views.items() for t in w.tasks if t.task == task and t.runs > 0]
    here = [(h, t) for h, t in found if t.queue == queue]
    return here or found


def _cost(fits: list[TaskFit], pool: str) -> fm.CallCost | None:
    """One call's cost for a batch on ``pool``: measured on that pool when it was (most
    faithful), else on gevent (its loop hold tells blocking from yielding waits), else on the
    pool with most runs."""
    by_pool: dict[str, list[TaskFit]] = {}
    for f in fits:
        by_pool.setdefault(f.pool, []).append(f)
    if not by_pool:
        return None
    chosen = pool if pool in by_pool else "gevent" if "gevent" in by_pool else None
    if chosen is None:
        chosen = max(by_pool, key=lambda p: sum(f.runs for f in by_pool[p]))
    group = by_pool[chosen]
    runs = sum(f.runs for f in group)
    if chosen == "gevent":
        return fm.from_gevent(
            runs,
            sum(f.own_wall_s or f.wall_s for f in group),
            sum(f.cpu_s for f in group),
            sum(f.demand_s for f in group),
            sum(f.hold_s for f in group),
            _quiet(group),
        )
    return fm.from_threaded(
        runs,
        sum(f.wall_s for f in group),
        sum(f.cpu_s for f in group),
        sum(f.demand_s for f in group),
        chosen,
    )


def _quiet(group: list[TaskFit]) -> tuple[int, float, float, float] | None:
    quiet = [f.quiet for f in group if f.quiet and f.quiet[0] > 0]
    if not quiet:
        return None
    return (
        sum(q[0] for q in quiet),
        sum(q[1] for q in quiet),
        sum(q[2] for q in quiet),
        sum(q[3] for q in quiet),
    )


def _scale(measured_ipc: float | None, items: int, children: int) -> tuple[float, str | None]:
    """× cost per call for this batch's items per call, from the measured calls' (linear)."""
    planned = items / children
    if measured_ipc and measured_ipc > 0:
        if abs(planned - measured_ipc) / measured_ipc < 0.01:
            return 1.0, None
        return planned / measured_ipc, (
            f"scaled × {planned / measured_ipc:.3g}: measured calls carried "
            f"{measured_ipc:.4g} items, these carry {planned:.4g}"
        )
    if planned > 1.0001:
        return 1.0, f"assumes the measured calls carried {planned:.4g} items each, as these"
    return 1.0, None


def _row(
    cost: fm.CallCost,
    pool: str,
    n: int,
    cores: int,
    items: int,
    children: int,
    scale_note: str | None,
    load: fm.Load = fm.IDLE,
    current: bool = False,
) -> dict[str, Any]:
    est = fm.estimate(cost, pool, n, cores, children, load)
    basis = fm.describe(cost, est, cores, children, items)
    if pool == "gevent" and not cost.waits_known and cost.coop_s > 0:
        worst = fm.estimate(cost.waits_blocking(), pool, n, cores, children, load)
        basis += (
            f"; its waits read as yielding (measured on {cost.measured_on}, where a blocking "
            f"driver looks the same): if they block the loop, {fm.human(worst.seconds)}"
        )
    if scale_note:
        basis += f"; {scale_note}"
    return {
        "pool": pool,
        "concurrency": n,
        "seconds": round(est.seconds, 1),
        "current": current,
        "basis": basis,
    }


def _current_row(
    costs: dict[str, fm.CallCost | None],
    consumers: list[Consumer],
    cores: int,
    items: int,
    children: int,
    scale_note: str | None,
    load: fm.Load = fm.IDLE,
) -> dict[str, Any] | None:
    """The queue's consumers now. Several share the batch in proportion to their speed; the
    figure is the slowest share (they run on the same cores when local: an optimistic sum)."""
    if len(consumers) == 1:
        c = consumers[0]
        cost = costs.get(c.pool)
        if cost is None:
            return None
        return _row(cost, c.pool, c.concurrency, cores, items, children, scale_note, load, True)
    speeds = []
    for c in consumers:
        cost = costs.get(c.pool)
        if cost is None:
            continue
        alone = fm.estimate(cost, c.pool, c.concurrency, cores, children, load).seconds
        speeds.append((c, cost, children / alone if alone > 0 else 0.0))
    total = sum(s for _, _, s in speeds)
    if not speeds or total <= 0:
        return None
    parts, seconds = [], 0.0
    for c, cost, speed in speeds:
        share = max(1, round(children * speed / total))
        est = fm.estimate(cost, c.pool, c.concurrency, cores, share, load)
        seconds = max(seconds, est.seconds)
        parts.append(
            f"{c.name} ({c.pool} × {c.concurrency}) ≈ {share:,} calls in {fm.human(est.seconds)}"
        )
    pools = sorted({c.pool for c, _, _ in speeds})
    first = speeds[0][1]
    basis = fm.describe(
        first,
        fm.estimate(first, speeds[0][0].pool, speeds[0][0].concurrency, cores, children),
        cores,
        children,
        items,
    ).split(";")[0]
    basis += f"; shared by {len(speeds)} workers: " + ", ".join(parts)
    if scale_note:
        basis += f"; {scale_note}"
    return {
        "pool": "+".join(pools),
        "concurrency": sum(c.concurrency for c, _, _ in speeds),
        "seconds": round(seconds, 1),
        "current": True,
        "basis": basis,
    }
