"""Pool fit on given numbers: the natures, the concurrency formulas, the fold of worker-fit
events, and the advice a measured queue gets (the same numbers the in-worker probe sends)."""

from __future__ import annotations

import pytest

from pooldesk.backend.advisor.model import Observations, Thresholds, WorkerObs
from pooldesk.backend.advisor.rules import evaluate
from pooldesk.backend.fit import concurrency as conc
from pooldesk.backend.fit.nature import classify, of_tasks
from pooldesk.backend.fit.table import build
from pooldesk.backend.telemetry.eventstate import EventState
from pooldesk.backend.telemetry.fitstate import TaskFit

TH = Thresholds()


def fit(task: str, queue: str, pool: str, runs: int, wall: float, cpu: float, hold: float,
        hold_max: float | None = None, declared: str | None = None) -> TaskFit:  # fmt: skip
    return TaskFit(
        task, queue, pool, runs, wall, cpu, cpu, hold,
        hold_max if hold_max is not None else (hold / runs if runs else 0.0),
        wall / runs if runs else 0.0, declared, wall,
    )  # fmt: skip


# -- natures ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pool", "wall", "cpu", "hold", "nature"),
    [
        ("gevent", 1.2, 1.18, 1.2, "cpu"),
        ("gevent", 1.2, 0.01, 1.19, "blocking"),  # holds the loop without CPU: a C call
        ("gevent", 1.2, 0.01, 0.005, "io"),
        ("gevent", 1.2, 0.6, 0.6, "mixed"),
        ("prefork", 1.2, 1.15, 0.0, "cpu"),
        ("prefork", 1.2, 0.01, 0.0, "io"),  # blocking or cooperative: prefork cannot tell
        ("prefork", 1.2, 0.6, 0.0, "mixed"),
        ("threads", 1.2, 0.05, 0.0, "io"),
    ],
)
def test_nature_from_shares(pool: str, wall: float, cpu: float, hold: float, nature: str) -> None:
    m = classify(4, wall, cpu, hold, hold / 4, pool)
    assert m.nature == nature, m.basis
    assert (m.hold_share is None) == (pool != "gevent")
    assert m.mean_wall_s == pytest.approx(0.3)


def test_too_few_runs_is_unknown_and_gevent_numbers_win_for_a_queue() -> None:
    assert classify(2, 0.6, 0.6, 0.6, 0.3, "gevent").nature == "unknown"
    # the same queue: io from prefork, blocking from a gevent trial → blocking (gevent tells)
    queue = of_tasks(
        [
            fit("t", "q", "prefork", 10, 3.0, 0.03, 0.0),
            fit("t", "q", "gevent", 3, 0.9, 0.01, 0.89),
        ]
    )
    assert (queue.nature, queue.pool, queue.runs) == ("blocking", "gevent", 3)


def test_quiet_runs_win_and_short_holds_always_yield() -> None:
    # contended: the own-time estimate says "holds" (others' holds taken off its sleep too) ...
    crowded = TaskFit("t", "q", "gevent", 40, 12.0, 4.0, 4.0, 4.0, 0.12, 0.5, None, 5.0)
    assert of_tasks([crowded]).nature == "cpu"
    # ... two undisturbed runs show half computing, half waiting: mixed
    quiet = TaskFit("t", "q", "gevent", 40, 12.0, 4.0, 4.0, 4.0, 0.12, 0.5, None, 5.0,
                    (2, 0.42, 0.2, 0.21))  # fmt: skip
    assert of_tasks([quiet]).nature == "mixed"
    # a cooperative task among CPU hogs: its shares are noise, its 2-ms stretches are not
    coop = TaskFit("t", "q", "gevent", 10, 9.0, 0.02, 0.02, 0.02, 0.002, 0.9, None, 0.03)
    assert of_tasks([coop]).nature == "io"


def test_own_wall_discounts_time_spent_waiting_for_other_tasks_holds() -> None:
    # 4 CPU runs of 0.3 s on one loop: each also waited ~0.3 s for the next one to yield
    plain = TaskFit("t", "q", "gevent", 4, 2.4, 1.2, 1.2, 1.2, 0.3, 0.6, None, 0.0)
    own = TaskFit("t", "q", "gevent", 4, 2.4, 1.2, 1.2, 1.2, 0.3, 0.6, None, 1.22)
    assert of_tasks([plain]).nature == "mixed"  # the plain wall halves its shares
    assert of_tasks([own]).nature == "cpu"


# -- concurrency formulas --------------------------------------------------------------------
def test_prefork_processes_follow_cores_times_one_plus_wait_over_compute() -> None:
    cpu = conc.prefork_processes(cores=2, cpu_share=1.0)
    assert cpu.concurrency == 2
    assert cpu.formula == "cores × (1 + wait/compute) = 2 × (1 + 0.00/1.00) = 2.0"
    half = conc.prefork_processes(cores=4, cpu_share=0.5)
    assert half.concurrency == 8
    waits = conc.prefork_processes(cores=2, cpu_share=0.1)  # 2 × (1 + 9) = 20
    assert waits.concurrency == 20 and waits.capped_by is None
    capped = conc.prefork_processes(
        cores=2, cpu_share=0.1, uss_per_process=100 * 2**20, ram_available=1000 * 2**20
    )
    assert capped.concurrency == 5  # 50 % of 1000 MiB / 100 MiB
    assert capped.capped_by and "RAM" in capped.capped_by and "capped to 5" in capped.formula
    assert conc.prefork_processes(cores=2, cpu_share=0.0).concurrency == 32  # 16 per core
    assert conc.prefork_processes(cores=2, cpu_share=0.84).concurrency == 2  # 2.4: CPU-bound
    assert conc.prefork_processes(cores=2, cpu_share=0.58).concurrency == 4  # 3.4: waits, up


def test_gevent_greenlets_follow_littles_law_with_headroom_and_caps() -> None:
    sized = conc.gevent_greenlets(rate_per_s=100, mean_wall_s=0.5)  # 50 in flight × 2
    assert sized.concurrency == 100
    assert sized.formula == "rate × wall × headroom = 100.0/s × 0.500 s × 2 = 100.0"
    assert conc.gevent_greenlets(rate_per_s=1, mean_wall_s=0.2).concurrency == 10  # floor
    fd = conc.gevent_greenlets(rate_per_s=1000, mean_wall_s=1.0, fd_limit=1024)
    assert fd.concurrency == 960 and fd.capped_by and "file descriptors" in fd.capped_by
    ram = conc.gevent_greenlets(rate_per_s=400, mean_wall_s=1.0, ram_available=64 * 2**20)
    assert ram.concurrency == 128 and ram.capped_by and "RAM" in ram.capped_by
    # a burst (no steady rate): enough greenlets to keep the core busy, wall / CPU × headroom
    burst = conc.gevent_greenlets(rate_per_s=2.0, mean_wall_s=0.2, cpu_per_task_s=0.002)
    assert burst.concurrency == 40  # 0.2 s / (2 + 8 ms Celery) = 20, × 2
    assert burst.formula.startswith("max(rate × wall, wall / CPU) × headroom")


def test_throughput_model_orders_the_pools_as_measured_here() -> None:
    # 1-s CPU tasks: prefork × 2 twice gevent; 0.5-s sleeps: gevent × 100 far above prefork × 2
    assert conc.task_rate("prefork", 2, 2, 1.0, 1.0, True) == pytest.approx(
        2 * conc.task_rate("gevent", 20, 2, 1.0, 1.0, False), rel=0.01
    )
    assert conc.task_rate("gevent", 100, 2, 0.5, 0.0, True) > 20 * conc.task_rate(
        "prefork", 2, 2, 0.5, 0.0, True
    )


# -- the fold --------------------------------------------------------------------------------
def _fit_event(pid: int, runs: int, pool: str = "prefork") -> dict[str, object]:
    return {
        "type": "worker-fit",
        "hostname": "w@h",
        "pid": pid,
        "pool": pool,
        "tasks": [
            {"task": "t", "queue": "q", "runs": runs, "wall_s": runs * 0.3, "cpu_s": runs * 0.3,
             "demand_s": runs * 0.3, "hold_s": 0.0, "hold_max_s": 0.0, "wall_max_s": 0.31,
             "own_wall_s": runs * 0.3, "declared": "io"},
        ],
    }  # fmt: skip


def test_fold_keeps_the_latest_per_process_and_sums_processes() -> None:
    state = EventState(clock=lambda: 100.0)
    state.apply({"type": "worker-online", "hostname": "w@h", "pid": 1})
    for event in (_fit_event(11, 2), _fit_event(11, 5), _fit_event(12, 3)):  # cumulative
        state.apply(event)
    snap = state.snapshot()
    (task,) = snap.fit["w@h"].tasks
    assert (task.runs, task.declared, snap.fit["w@h"].processes) == (8, "io", 2)
    assert task.wall_s == pytest.approx(2.4)
    assert snap.workers["w@h"].pid == 1  # a pool child's event is not a new worker life
    assert snap.to_dict()["fit"]["w@h"]["tasks"][0]["runs"] == 8  # JSON-ready
    state.apply({"type": "worker-online", "hostname": "w@h", "pid": 2})
    assert "w@h" not in state.snapshot().fit  # a new life starts from zero


# -- advice from measurements ----------------------------------------------------------------
def worker(name: str, pool: str, queues: list[str], fits: list[TaskFit], c: int = 20) -> WorkerObs:
    return WorkerObs(name, f"{name}@h", True, pool, c, queues, "online", fit=fits)


def test_blocking_queue_on_gevent_is_critical_without_declaration() -> None:
    w = worker("g", "gevent", ["db"], [fit("app.query", "db", "gevent", 5, 1.5, 0.02, 1.49, 0.31)])
    [trap] = evaluate(Observations(workers=[w], cores=2, natures={}), TH)
    assert (trap.rule, trap.severity) == ("cpu_under_gevent", "critical")
    assert trap.evidence["nature"] == "blocking" and trap.evidence["hold_max_ms"] == 310.0
    assert trap.evidence["tasks"][0]["task"] == "app.query"
    assert "app.query" in trap.text and "310 ms" in trap.text
    assert trap.fix and trap.fix.kind == "restart_worker" and trap.fix.params["pool"] == "prefork"


def test_short_holds_and_cooperative_queues_are_not_a_trap() -> None:
    noop = fit("app.noop", "fast", "gevent", 500, 0.5, 0.5, 0.5, 0.004)  # holds, but 4 ms
    coop = fit("app.fetch", "web", "gevent", 50, 10.0, 0.1, 0.1, 0.01)
    w = worker("g", "gevent", ["fast", "web"], [noop, coop])
    assert evaluate(Observations(workers=[w], cores=2, natures={}), TH) == []


def test_declared_cpu_measured_io_on_gevent_is_a_mismatch_not_a_trap() -> None:
    coop = fit("app.fetch", "invoices", "gevent", 50, 10.0, 0.1, 0.1, 0.01)
    w = worker("g", "gevent", ["invoices"], [coop])
    advice = evaluate(Observations(workers=[w], cores=2), TH)  # invoices is declared cpu
    assert [a.rule for a in advice] == ["nature_mismatch"]
    assert advice[0].evidence["declared"] == "cpu" and advice[0].evidence["measured"] == "io"


def test_io_measured_on_wide_prefork_gets_a_trial_then_the_verdict() -> None:
    waits = fit("app.query", "db", "prefork", 40, 12.0, 0.1, 0.0)
    wide = WorkerObs("p", "p@h", True, "prefork", 16, ["db"], "online", uss_bytes=800 * 2**20,
                     fit=[waits])  # fmt: skip
    [trial] = evaluate(Observations(workers=[wide], cores=2, natures={}), TH)
    assert trial.rule == "io_under_prefork" and trial.fix is not None
    assert trial.fix.kind == "start_worker" and trial.fix.params["pool"] == "gevent"
    assert trial.fix.params["trial"] is True and trial.fix.params["like"] == "p"
    # the trial shows the driver blocks: the trial is stopped, prefork stays, no switch offered
    blocks = fit("app.query", "db", "gevent", 3, 0.9, 0.01, 0.89, 0.3)
    trial_w = worker("db-trial", "gevent", ["db"], [blocks])
    advice = {a.rule: a for a in evaluate(
        Observations(workers=[wide, trial_w], cores=2, natures={}), TH)}  # fmt: skip
    assert set(advice) == {"cpu_under_gevent"}
    assert advice["cpu_under_gevent"].fix is not None
    assert advice["cpu_under_gevent"].fix.kind == "stop_worker"
    # ... or it shows the tasks yield: now the switch to gevent is the real fix
    yields = fit("app.query", "db", "gevent", 30, 9.0, 0.09, 0.05, 0.005)
    trial_w = worker("db-trial", "gevent", ["db"], [yields])
    obs = Observations(workers=[wide, trial_w], cores=2, natures={}, queue_rates={"db": 400.0})
    [switch] = evaluate(obs, TH)
    assert switch.rule == "io_under_prefork" and switch.fix is not None
    assert (switch.fix.kind, switch.fix.params["pool"]) == ("restart_worker", "gevent")
    [row] = build(obs, TH)
    assert (row.verdict, row.nature, row.measured_on) == ("switch", "io", "gevent")
    assert row.formula and row.formula.startswith("rate × wall × headroom = 400.0/s × 0.300 s")
    assert row.recommended_concurrency == 240
    assert switch.fix.params["concurrency"] == 240  # the advice and the table agree


def test_timeline_places_runs_on_the_process_that_ran_them() -> None:
    state = EventState(clock=lambda: 100.0)
    state.apply({"type": "worker-online", "hostname": "w@h", "pid": 1})
    event = _fit_event(11, 1)
    event["runs"] = [
        ["b1.0", "q", 50.0, 0.3, 0.0, 0.0, 0.0],
        ["other", "q", 50.5, 0.3, 0.0, 0.0, 0.0],
    ]
    state.apply(event)
    for kind, ts in (("task-sent", 49.0), ("task-started", 49.5)):  # running: events only
        state.apply({"type": kind, "uuid": "b1.1", "hostname": "w@h", "pid": 1,
                     "timestamp": ts, "queue": "q", "name": "t"})  # fmt: skip
    spans = state.timeline(prefix="b1.")
    assert [(s.task_id, s.pid, s.started, s.ended) for s in spans] == [
        ("b1.1", 1, 49.5, None),
        ("b1.0", 11, 50.0, 50.3),
    ]
    assert spans[1].hold_s == 0.0 and spans[0].hold_s is None  # measured vs events only


def test_fold_is_bounded_by_workers_processes_and_runs() -> None:
    from pooldesk.backend.telemetry import fitstate

    fold = fitstate.FitFold()
    for i in range(fitstate.MAX_HOSTS + 5):
        fold.apply(f"w{i}@h", _fit_event(1, 1), now=float(i))
    assert len(fold.views()) == fitstate.MAX_HOSTS and "w0@h" not in fold.views()
    event = _fit_event(2, 1)
    event["runs"] = [[f"t{i}", "q", 1.0, 0.1, 0.0, 0.0, 0.0] for i in range(500)]
    for _ in range(30):  # 200 runs an event at most (the probe's own cap), 6,000 in all
        fold.apply("big@h", event, now=1000.0)
    assert len(fold.runs["big@h"]) == fitstate.MAX_RUNS


def test_a_queue_on_prefork_and_gevent_quotes_the_hold_measured_on_gevent() -> None:
    """The demo's invoices queue ran on four prefork workers and one gevent worker: the row
    said "hold the loop (up to 0 ms)" (the prefork runs' figure) beside a card with seconds."""
    pre = worker("p", "prefork", ["crunch"], [fit("app.crunch", "crunch", "prefork", 20, 10, 6, 0)])
    held = fit("app.crunch", "crunch", "gevent", 2, 1.0, 0.52, 0.52, 0.42)  # too few for the row
    gev = worker("g", "gevent", ["crunch"], [held])
    [row] = build(Observations(workers=[pre, gev], cores=2, natures={}), TH)
    assert row.verdict == "switch" and row.fix is not None
    assert "up to 420 ms" in row.recommendation and "(g)" in row.recommendation
    assert row.fix.params["name"] == "g"


def test_an_idle_worker_pooldesk_started_is_waiting_for_tasks_not_without_a_probe() -> None:
    """The Overview said "no probe in its workers" for a queue no task had reached yet."""
    idle = WorkerObs("w", "w@h", True, "prefork", 2, ["crunch"], "online", fit=None)
    [row] = build(Observations(workers=[idle], cores=2, natures={}), TH)
    assert (row.verdict, row.recommendation) == ("unknown", "no task seen yet")
    foreign = WorkerObs("x", "x@h", False, "prefork", 2, ["crunch"], "online", fit=None)
    [row] = build(Observations(workers=[foreign], cores=2, natures={}), TH)
    assert row.verdict == "unmeasured" and row.recommendation.startswith("no probe")
