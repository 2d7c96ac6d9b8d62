"""The Pool fit table: per queue, what its tasks measured, how it runs now, and what fits it.

One row per queue that has measurements or consumers. The verdict and recommendation come from
the measured nature (``fit.nature``) and the sizing formulas (``fit.concurrency``); each row
carries the fix the window's *Fix…* button and the advisor use. Pure: built from
``Observations`` so the CLI, the window and the rules agree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pooldesk.backend.advisor import fixbuild
from pooldesk.backend.advisor.model import POOLDESK_QUEUES, Fix, Observations, Thresholds, WorkerObs
from pooldesk.backend.fit import concurrency as conc
from pooldesk.backend.fit.nature import Limits, Measured, of_task, of_tasks
from pooldesk.backend.telemetry.fitstate import TaskFit
from pooldesk.backend.units import human_ms

HOLDS = frozenset({"cpu", "blocking"})
TRIAL_SUFFIX = "-trial"


@dataclass(frozen=True)
class TaskRow:
    task: str
    nature: str
    runs: int
    cpu_share: float | None
    hold_share: float | None
    mean_wall_s: float | None
    pool: str
    declared: str | None


@dataclass
class QueueFit:
    queue: str
    nature: str
    runs: int
    cpu_share: float | None
    hold_share: float | None
    mean_wall_s: float | None
    hold_max_s: float | None
    measured_on: str | None  # the pool the nature comes from
    basis: str
    declared: str | None
    workers: list[str]  # "name: pool × concurrency"
    verdict: str  # trap | switch | fits | trial | resize | unknown | unmeasured | idle
    severity: str | None  # critical for the trap, warning, info, None
    recommendation: str
    recommended_pool: str | None = None
    recommended_concurrency: int | None = None
    speedup: float | None = None  # expected, from the throughput model
    formula: str | None = None
    tasks: list[TaskRow] = field(default_factory=list)
    fix: Fix | None = None
    # After a Fix… (backend/fit/fixloop.py): the figures before it and, once runs on the new
    # shape arrive, after it; faster = after ÷ before of the throughput.
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    faster: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def limits(th: Thresholds) -> Limits:
    return Limits(min_runs=th.fit_min_runs)


def measured_tasks(obs: Observations, queue: str, worker: WorkerObs | None = None) -> list[TaskFit]:
    pool = [worker] if worker is not None else obs.workers
    return [t for w in pool for t in (w.fit or []) if t.queue == queue]


def worker_label(w: WorkerObs) -> str:
    return f"{w.shown}: {w.pool} × {w.concurrency}"


def is_trial(w: WorkerObs) -> bool:
    return w.name.endswith(TRIAL_SUFFIX)


def holds_loop(m: Measured, th: Thresholds) -> bool:
    """Measured on gevent as cpu/blocking, with stretches long enough to be felt."""
    return m.pool == "gevent" and m.nature in HOLDS and (m.hold_max_s or 0) * 1000 >= th.fit_hold_ms


def build(obs: Observations, th: Thresholds) -> list[QueueFit]:
    queues = sorted(
        {t.queue for w in obs.workers for t in (w.fit or [])}
        | {q for w in obs.workers if w.state in ("online", "online-remote") for q in w.queues}
    )
    return [_row(obs, th, q) for q in queues]


def _row(obs: Observations, th: Thresholds, queue: str) -> QueueFit:
    """The row from the measurements, then checked against who consumes the queue now."""
    row = _measured_row(obs, th, queue)
    if obs.consumers(queue) or row.verdict in ("unknown", "unmeasured"):
        return row
    # Measured earlier, but its only worker stopped: "fits" would describe a worker that is
    # gone. The recommendation stays (the Start dialog pre-selects it); no fix for nobody.
    was = row.recommendation
    row.verdict, row.severity, row.fix, row.speedup = "idle", None, None, None
    row.recommendation = "no running worker consumes it" + (f"; it would fit {was}" if was else "")
    return row


def _measured_row(obs: Observations, th: Thresholds, queue: str) -> QueueFit:
    lim = limits(th)
    tasks = measured_tasks(obs, queue)
    m = of_tasks(tasks, lim)
    consumers = obs.consumers(queue)
    declared = obs.natures.get(queue) or next((t.declared for t in tasks if t.declared), None)
    row = QueueFit(
        queue=queue,
        nature=m.nature,
        runs=m.runs,
        cpu_share=_r(m.cpu_share),
        hold_share=_r(m.hold_share),
        mean_wall_s=_r(m.mean_wall_s, 4),
        hold_max_s=_r(m.hold_max_s, 4),
        measured_on=m.pool if m.runs else None,
        basis=m.basis,
        declared=declared,
        workers=[worker_label(w) for w in consumers],
        verdict="unknown",
        severity=None,
        recommendation="",
        tasks=[_task_row(t, lim) for t in sorted(tasks, key=lambda t: (t.task, t.pool))],
    )
    if not tasks:
        # The probe reports once tasks have run; an idle worker Pooldesk started (it always
        # runs the probe) or one whose gevent monitor reports loop lag has it all the same.
        probed = any(
            w.fit is not None or w.local or w.loop_lag_ms_max is not None for w in consumers
        )
        row.verdict = "unknown" if probed else "unmeasured"
        row.recommendation = (
            "no task seen yet"
            if probed
            else "no probe in its workers: measured from events only (run times, no nature)"
        )
        return row
    if m.nature == "unknown":
        row.recommendation = f"waiting for runs ({m.basis})"
        return row
    trap = _trap_worker(obs, th, queue)
    if trap is not None:
        return _trap(obs, row, m, trap[0], trap[1])
    if m.nature in ("io",) and m.pool == "gevent":
        return _io_gevent(obs, row, m)
    if m.nature == "io":
        return _trial(obs, th, row, consumers)
    row = _prefork(obs, row, m, consumers)
    held = _held_worker(obs, th, queue)
    if held is not None:  # mixed on gevent: its computing halves still take turns
        worker, hold_max_s = held
        row.verdict, row.severity = "switch", "warning"
        row.recommendation = (
            f"{row.recommendation}: on gevent ({worker.shown}) its computing parts hold the "
            f"loop (up to {human_ms(hold_max_s * 1000)}) and take turns"
        )
        row.fix = trap_fix(obs, worker, [queue], row.recommended_concurrency or obs.cores)
    return row


def _held_worker(obs: Observations, th: Thresholds, queue: str) -> tuple[WorkerObs, float] | None:
    """A gevent worker on which this queue held the loop for long stretches, with the longest
    hold measured *there* (the queue's own figures mix in its prefork consumers, which hold no
    loop: quoting them said "up to 0 ms" beside a card reporting seconds)."""
    for w in obs.consumers(queue):
        if w.pool != "gevent":
            continue
        mine = of_tasks(measured_tasks(obs, queue, w), limits(th))
        if mine.pool == "gevent" and (mine.hold_max_s or 0) * 1000 >= th.fit_hold_ms:
            return w, mine.hold_max_s or 0.0
    return None


def _trap_worker(
    obs: Observations, th: Thresholds, queue: str
) -> tuple[WorkerObs, Measured] | None:
    """A gevent worker whose own runs of this queue held its loop."""
    for w in obs.consumers(queue):
        if w.pool != "gevent":
            continue
        mine = of_tasks(measured_tasks(obs, queue, w), limits(th))
        if holds_loop(mine, th):
            return w, mine
    return None


def _trap(obs: Observations, row: QueueFit, m: Measured, w: WorkerObs, mine: Measured) -> QueueFit:
    sizing = prefork_sizing(obs, mine.cpu_share or 0.0)
    alone = mine.mean_hold_s or mine.mean_wall_s or 0.0
    cpu = mine.mean_cpu_s or 0.0
    now = conc.task_rate("gevent", w.concurrency or 1, obs.cores, alone, cpu, yields=False)
    then = conc.task_rate("prefork", sizing.concurrency, obs.cores, alone, cpu, yields=True)
    row.verdict, row.severity = "trap", "critical"
    row.recommended_pool, row.recommended_concurrency = "prefork", sizing.concurrency
    row.speedup = conc.expected_speedup(now, then)
    row.formula = sizing.formula
    row.recommendation = (
        f"prefork × {sizing.concurrency}: on gevent its tasks hold the loop "
        f"({mine.nature}) and run one at a time"
    )
    row.fix = trap_fix(obs, w, [row.queue], sizing.concurrency)
    return row


def trap_fix(obs: Observations, w: WorkerObs, queues: list[str], n: int) -> Fix | None:
    if is_trial(w) and w.local:
        return Fix(
            "stop_worker",
            {"name": w.name},
            f"Stop the trial worker {w.shown}: its tasks block the gevent loop, so "
            f"{', '.join(queues)} stays on prefork.",
        )
    if not w.local and not set(queues) <= set(POOLDESK_QUEUES):
        return None  # a remote worker runs an app we do not know: no worker to start for it
    if w.local and set(w.queues) <= set(queues):
        return fixbuild.restart(w.name, "prefork", n, w.pool, w.concurrency)
    name = f"{queues[0]}-prefork"
    rest = [q for q in w.queues if q not in queues]
    return Fix(
        "start_worker",
        {
            "name": name,
            "pool": "prefork",
            "concurrency": n,
            "queues": queues,
            **({"remove_from": w.name if w.local else w.hostname} if rest else {}),
            **({"like": w.name} if w.local else {}),
        },
        f"Start worker {name}: prefork × {n} on {', '.join(queues)}"
        + (
            f", and stop {w.shown} consuming {', '.join(queues)} (it keeps {', '.join(rest)})."
            if rest
            else "."
        ),
    )


def gevent_sizing(obs: Observations, queue: str, m: Measured) -> conc.Sizing:
    """Greenlets for a queue measured yielding: Little's law or the saturation point."""
    return conc.gevent_greenlets(
        obs.queue_rates.get(queue, 0.0),
        m.mean_wall_s or 0.0,
        fd_limit=obs.fd_limit,
        ram_available=obs.ram_available_bytes,
        cpu_per_task_s=_mean_cpu(obs, queue),
    )


def _io_gevent(obs: Observations, row: QueueFit, m: Measured) -> QueueFit:
    sizing = gevent_sizing(obs, row.queue, m)
    row.formula = sizing.formula
    row.recommended_pool, row.recommended_concurrency = "gevent", sizing.concurrency
    prefork = [w for w in obs.consumers(row.queue) if w.pool == "prefork"]
    if prefork:
        w = prefork[0]
        now = conc.task_rate(
            "prefork", w.concurrency or 1, obs.cores, m.mean_wall_s or 0, m.mean_cpu_s or 0, True
        )
        then = conc.task_rate(
            "gevent", sizing.concurrency, obs.cores, m.mean_wall_s or 0, m.mean_cpu_s or 0, True
        )
        row.verdict, row.severity = "switch", "warning"
        row.speedup = conc.expected_speedup(now, then)
        row.recommendation = (
            f"gevent × {sizing.concurrency}: measured on gevent, its tasks yield "
            f"({m.basis}); {w.shown} holds a process per waiting task"
        )
        if w.local and w.queues == [row.queue]:
            row.fix = fixbuild.restart(w.name, "gevent", sizing.concurrency, w.pool, w.concurrency)
        return row
    row.verdict = "fits"
    row.recommendation = f"gevent × {sizing.concurrency}"
    return row


def _trial(
    obs: Observations, th: Thresholds, row: QueueFit, consumers: list[WorkerObs]
) -> QueueFit:
    trials = [w for w in consumers if w.pool == "gevent"]
    row.verdict, row.severity = "trial", "info"
    row.recommended_pool, row.recommended_concurrency = "gevent", th.trial_concurrency
    if trials:
        row.recommendation = (
            f"trial running on {trials[0].name}: waiting for {th.fit_min_runs} runs on gevent"
        )
        return row
    row.recommendation = (
        "gevent trial beside it: from prefork a cooperative wait and a blocking driver look alike"
    )
    like = next((w.name for w in consumers if w.local), None)
    row.fix = trial_fix(row.queue, th.trial_concurrency, like)
    return row


def trial_fix(queue: str, concurrency: int, like: str | None = None) -> Fix:
    name = f"{queue}{TRIAL_SUFFIX}"
    return Fix(
        "start_worker",
        {
            "name": name,
            "pool": "gevent",
            "concurrency": concurrency,
            "queues": [queue],
            "trial": True,
            **({"like": like} if like else {}),
        },
        f"Start a trial worker {name}: gevent × {concurrency} on {queue}, beside the "
        "existing workers. Pooldesk watches whether its tasks yield, then says which pool "
        "fits (stopping the trial if they block).",
    )


def _prefork(obs: Observations, row: QueueFit, m: Measured, consumers: list[WorkerObs]) -> QueueFit:
    sizing = prefork_sizing(obs, m.cpu_share or 0.0)
    row.formula = sizing.formula
    row.verdict = "fits"
    row.recommendation = f"prefork × {sizing.concurrency}"
    row.recommended_pool, row.recommended_concurrency = "prefork", sizing.concurrency
    for w in consumers:
        if w.pool == "prefork" and w.concurrency and w.local:
            c = w.concurrency
            if c > 1.5 * sizing.concurrency or 1.5 * c < sizing.concurrency:
                row.verdict, row.severity = "resize", "info"
                now = conc.task_rate(
                    "prefork", c, obs.cores, m.mean_wall_s or 0, m.mean_cpu_s or 0, True
                )
                then = conc.task_rate(
                    "prefork",
                    sizing.concurrency,
                    obs.cores,
                    m.mean_wall_s or 0,
                    m.mean_cpu_s or 0,
                    True,
                )
                row.speedup = conc.expected_speedup(now, then)
                row.fix = fixbuild.resize(w.name, w.pool, c, sizing.concurrency)
                break
    return row


def _mean_cpu(obs: Observations, queue: str) -> float | None:
    """Mean CPU time per run (not demand: waits for a core are not work), gevent runs first."""
    tasks = measured_tasks(obs, queue)
    chosen = [t for t in tasks if t.pool == "gevent"] or tasks
    runs = sum(t.runs for t in chosen)
    return sum(t.cpu_s for t in chosen) / runs if runs else None


def prefork_sizing(obs: Observations, cpu_share: float) -> conc.Sizing:
    """Prefork processes for this CPU share on this machine (cores, RAM, USS per process)."""
    return conc.prefork_processes(
        obs.cores, cpu_share, _uss_per_process(obs), obs.ram_available_bytes
    )


def _uss_per_process(obs: Observations) -> int | None:
    sizes = [
        (w.uss_bytes or 0) // max(1, (w.concurrency or 1) + 1)
        for w in obs.workers
        if w.pool == "prefork" and w.uss_bytes
    ]
    return max(sizes) if sizes else None


def _task_row(t: TaskFit, lim: Limits) -> TaskRow:
    m = of_task(t, lim)
    return TaskRow(
        task=t.task,
        nature=m.nature,
        runs=t.runs,
        cpu_share=_r(m.cpu_share),
        hold_share=_r(m.hold_share),
        mean_wall_s=_r(m.mean_wall_s, 4),
        pool=t.pool,
        declared=t.declared,
    )


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)
