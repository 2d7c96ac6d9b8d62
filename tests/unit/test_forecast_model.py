"""The launch forecast on given numbers: the wave model per pool at its edges (checked against
FACTS.md's plain-Celery figures), and the forecast rows built from probe totals as a worker sends
them (``forecast_from``: the seam below the broker listen)."""

from __future__ import annotations

import pytest

from pooldesk.backend.batches import forecast_model as fm
from pooldesk.backend.batches.forecast import Consumer, forecast_from, summary
from pooldesk.backend.batches.forecast_sources import History, items_in
from pooldesk.backend.telemetry.fitstate import TaskFit, WorkerFit


def cpu(seconds: float) -> fm.CallCost:
    return fm.CallCost(seconds, 0.0, 0.0, "prefork", 10)


def coop(seconds: float) -> fm.CallCost:
    return fm.CallCost(0.0, 0.0, seconds, "gevent", 10)


def block(seconds: float) -> fm.CallCost:
    return fm.CallCost(0.0, seconds, 0.0, "gevent", 10)


# -- the wave model ----------------------------------------------------------------------------
def test_cpu_bound_calls_run_cores_at_a_time_on_prefork_and_one_at_a_time_on_gevent() -> None:
    # FACTS: 8 CPU tasks of ~1 s: prefork -c 2 4.18 s, gevent -c 20 8.19 s (strictly serial)
    prefork = fm.estimate(cpu(1.0), "prefork", 2, 2, 8)
    gevent = fm.estimate(cpu(1.0), "gevent", 20, 2, 8)
    assert prefork.seconds == pytest.approx(4.0, rel=0.02)
    assert gevent.seconds == pytest.approx(8.0, rel=0.02)
    # more processes than cores add nothing to CPU work
    assert fm.estimate(cpu(1.0), "prefork", 8, 2, 8).seconds == pytest.approx(4.0, rel=0.02)
    # the GIL: threads compute one at a time too
    assert fm.estimate(cpu(1.0), "threads", 4, 2, 8).seconds == pytest.approx(8.0, rel=0.02)


def test_waits_overlap_concurrency_at_a_time_on_both_pools() -> None:
    # FACTS: 200 sleeps of 0.5 s: prefork -c 2 50.36 s, -c 8 12.66 s, gevent -c 100 1.50 s
    assert fm.estimate(coop(0.5), "prefork", 2, 2, 200).seconds == pytest.approx(50.4, rel=0.02)
    assert fm.estimate(coop(0.5), "prefork", 8, 2, 200).seconds == pytest.approx(12.6, rel=0.02)
    gevent = fm.estimate(coop(0.5), "gevent", 100, 2, 200).seconds
    assert 1.0 <= gevent <= 1.7  # two waves, Celery's 8 ms per call taking turns in the loop


def test_a_blocking_c_call_takes_turns_on_gevent_but_overlaps_on_prefork() -> None:
    gevent = fm.estimate(block(0.2), "gevent", 20, 2, 40).seconds
    prefork = fm.estimate(block(0.2), "prefork", 4, 2, 40).seconds
    assert gevent == pytest.approx(40 * 0.208, rel=0.02)
    assert prefork == pytest.approx(10 * 0.204, rel=0.02)


def test_the_last_partial_wave_is_a_tail_small_batches_pay() -> None:
    # 5 CPU calls of 1 s on prefork × 4, 2 cores: 4 share the cores for 2 s, the 5th runs 1 s
    assert fm.estimate(cpu(1.0), "prefork", 4, 2, 5).seconds == pytest.approx(3.0, rel=0.02)
    # one call takes one call's time whatever the concurrency
    for pool, n in (("prefork", 16), ("gevent", 200), ("solo", 1)):
        assert fm.estimate(coop(2.0), pool, n, 2, 1).seconds == pytest.approx(2.0, rel=0.01)
    # 3 waits on prefork × 2: two waves
    assert fm.estimate(coop(1.0), "prefork", 2, 2, 3).seconds == pytest.approx(2.0, rel=0.02)


def test_degenerate_inputs_give_a_number_not_an_error() -> None:
    assert fm.estimate(cpu(1.0), "prefork", 2, 2, 0).seconds == 0.0
    zero = fm.estimate(cpu(1.0), "prefork", 0, 0, 3)  # read as one slot, one core
    assert zero.concurrency == 1 and zero.seconds == pytest.approx(3.0, rel=0.02)
    assert fm.estimate(cpu(1.0), "solo", 8, 2, 4).seconds == pytest.approx(4.0, rel=0.02)
    assert fm.estimate(cpu(1.0), "eventlet?", 2, 2, 4).seconds > 0  # an unknown pool: prefork-like


def test_scaling_by_items_per_call_is_linear() -> None:
    per_item = fm.CallCost(0.002, 0.001, 0.0, "gevent", 50, items_per_call=1)
    chunk = per_item.scaled(500)
    assert chunk.cpu_s == pytest.approx(1.0) and chunk.block_s == pytest.approx(0.5)
    assert chunk.items_per_call == 500
    # the case study: 6,000 invoices in 12 chunks of 500 on gevent × 20 run one after another
    gevent = fm.estimate(chunk, "gevent", 20, 4, 12).seconds
    prefork = fm.estimate(chunk, "prefork", 4, 4, 12).seconds
    assert gevent == pytest.approx(12 * 1.5, rel=0.02)
    assert prefork == pytest.approx(3 * 1.5, rel=0.02)


def test_gevent_totals_split_into_cpu_blocking_and_yielding_waits() -> None:
    # 4 runs: 0.2 s CPU each, 0.05 s more waiting for a core (the load then: dropped), 0.3 s
    # more holding the loop in C, then 0.5 s yielding; quiet runs give the exact own time
    cost = fm.from_gevent(4, 9.0, 0.8, 1.0, 2.2, quiet=(2, 2.1, 0.5, 1.1))
    assert cost is not None
    assert cost.cpu_s == pytest.approx(0.2)
    assert cost.block_s == pytest.approx(0.3)
    assert cost.coop_s == pytest.approx(0.5)  # from the quiet runs, not the contended 9 s
    without_quiet = fm.from_gevent(4, 9.0, 0.8, 1.0, 2.2)
    assert without_quiet is not None and without_quiet.coop_s == pytest.approx(2.25 - 0.55)
    assert fm.from_gevent(0, 0.0, 0.0, 0.0, 0.0) is None


def test_others_load_now_takes_a_fair_share_of_the_cores() -> None:
    def share(k: float, others: float, **kw: object) -> float:
        return fm.core_share(k, 2, fm.Load(others, **kw))  # type: ignore[arg-type]

    assert share(2, 0.0) == 2 and share(4, 0.0) == 2 and share(0, 4.0) == 0.0
    assert share(1, 1.0) == 1  # room for both
    assert share(2, 2.0) == pytest.approx(1.0)  # half the machine each
    assert share(1, 4.0) == pytest.approx(0.4)
    # autogroup: sessions share the machine by weight; a worker is one session
    assert share(4, 1.0, grouped=True) == pytest.approx(1.0)  # what the other leaves
    assert share(4, 3.0, grouped=True) == pytest.approx(0.5)  # an equal share
    # a worker at nice 10 (weight 0.107) beside 4 sessions at nice 0: about 5 % of the machine
    niced = share(1, 4.0, weight=4.0, grouped=True, own_weight=1.25**-10)
    assert niced == pytest.approx(2 * 0.107 / 4.107, rel=0.01)
    # ... unless the machine left cores idle meanwhile (bursty others): those are its
    idle = share(1, 4.0, weight=4.0, grouped=True, own_weight=1.25**-10, idle_cores=0.8)
    assert idle == pytest.approx(0.8)
    # CPU work slows with the load; a wait does not
    busy = fm.Load(2.0)
    idle = fm.estimate(cpu(1.0), "prefork", 2, 2, 8).seconds
    assert fm.estimate(cpu(1.0), "prefork", 2, 2, 8, busy).seconds == pytest.approx(2 * idle)
    loop = fm.estimate(cpu(1.0), "gevent", 20, 2, 8).seconds
    assert fm.estimate(cpu(1.0), "gevent", 20, 2, 8, fm.Load(4.0)).seconds == pytest.approx(
        2.5 * loop
    )
    assert fm.estimate(coop(1.0), "prefork", 2, 2, 8, fm.Load(4.0)).seconds == pytest.approx(
        fm.estimate(coop(1.0), "prefork", 2, 2, 8).seconds, rel=0.02
    )


def test_off_gevent_waits_are_unknown_and_contention_is_not_carried_over() -> None:
    # prefork × 4 on 2 cores: each CPU run of 1 s took 2 s, waiting for a core half the time
    cost = fm.from_threaded(4, 8.0, 4.0, 8.0, "prefork")
    assert cost is not None and cost.cpu_s == pytest.approx(1.0) and cost.coop_s == 0.0
    waits = fm.from_threaded(4, 2.0, 0.04, 0.04, "prefork")
    assert waits is not None and not waits.waits_known
    assert waits.coop_s == pytest.approx(0.49)
    pessimistic = fm.estimate(waits.waits_blocking(), "gevent", 20, 2, 40).seconds
    assert pessimistic > 5 * fm.estimate(waits, "gevent", 20, 2, 40).seconds
    history = fm.from_runtimes(30, 0.5, "?")
    assert history is not None and history.cpu_s == 0.5 and not history.cpu_known


def test_basis_and_human_figures_carry_the_numbers() -> None:
    cost = fm.CallCost(0.1, 0.0, 0.2, "gevent", 12)
    est = fm.estimate(cost, "gevent", 20, 2, 100)
    text = fm.describe(cost, est, 2, 100, 1000)
    assert "300 ms per call" in text and "30.0 ms per item" in text
    assert "CPU 33%" in text and "loop hold 33%" in text and "12 runs" in text
    assert "gevent × 20" in text and "100 calls in 5 waves" in text
    assert "busy processes" not in text
    busy = fm.describe(cost, fm.estimate(cost, "gevent", 20, 2, 100, fm.Load(3.0)), 2, 100, 1000)
    assert "beside 3.0 busy processes" in busy and "0.50 of a core per process" in busy
    assert fm.human(3600) == "≈ 60 min" and fm.human(42) == "≈ 42 s" and fm.human(2.5) == "≈ 2.5 s"
    assert fm.human(4 * 3600) == "≈ 4.0 h"


@pytest.mark.parametrize(
    ("args", "items"),
    [("([1, 2, 3],)", 3), ("(7,)", 1), ("[['a', 'b']]", 2), ("('x', 2)", 1), ("([1, 2, …", None),
     ("", None), (None, None), ("()", None)],
)  # fmt: skip
def test_items_per_recorded_call(args: str | None, items: int | None) -> None:
    assert items_in(args) == items


# -- forecast rows from probe totals ---------------------------------------------------------
def fit(pool: str, runs: int, wall: float, cpu_s: float, hold: float, queue: str = "q") -> TaskFit:
    per = wall / runs
    return TaskFit("shop.bill", queue, pool, runs, wall, cpu_s, cpu_s, hold, hold / runs, per,
                   None, wall, (runs, wall, cpu_s, hold))  # fmt: skip


def views(*hosts: tuple[str, TaskFit]) -> dict[str, WorkerFit]:
    return {h: WorkerFit(h, f.pool, 1, (f,), 0.0) for h, f in hosts}


def run(consumers: list[Consumer], heard: dict[str, WorkerFit], items: int = 6000,
        children: int = 6000, history: History | None = None) -> dict:  # type: ignore[type-arg]  # fmt: skip
    return forecast_from(
        task="shop.bill", queue="q", items=items, children=children, consumers=consumers,
        views=heard, history=history or History(0, None, None), cores=4,
    )  # fmt: skip


def test_a_cpu_task_trapped_on_gevent_gets_a_faster_prefork_row() -> None:
    heard = views(("g@box", fit("gevent", 10, 3.0, 2.9, 3.0)))
    out = run([Consumer("g", "gevent", 20)], heard)
    assert out["forecast_reason"] is None
    here, there = out["forecast"]
    assert (here["pool"], here["concurrency"], here["current"]) == ("gevent", 20, True)
    assert there["pool"] == "prefork" and not there["current"]
    assert there["concurrency"] == 4  # the Pool fit table's pick on 4 cores
    assert there["seconds"] < here["seconds"] / 3
    assert "per call" in here["basis"] and "gevent × 20" in here["basis"]
    # the line: 6,000 invoices of ~0.3 s CPU each
    assert summary(out) == "≈ 31 min here; ≈ 8 min on prefork × 4"
    assert summary(run([], {})).startswith("nothing consumes q")


def test_no_second_row_when_the_queue_already_runs_what_the_table_recommends() -> None:
    heard = views(("p@box", fit("prefork", 10, 3.0, 2.9, 0.0)))
    out = run([Consumer("p", "prefork", 4)], heard)
    assert [r["pool"] for r in out["forecast"]] == ["prefork"]


def test_nothing_consuming_or_nothing_measured_gives_an_empty_forecast_and_why() -> None:
    out = run([], {})
    assert out["forecast"] == [] and "nothing consumes q" in out["forecast_reason"]
    out = run([Consumer("g", "gevent", 20)], {})
    assert out["forecast"] == [] and "not been measured" in out["forecast_reason"]


def test_task_history_run_times_stand_in_when_no_probe_reports() -> None:
    out = run([Consumer("p", "prefork", 4)], {}, history=History(40, 0.5, None))
    (row,) = out["forecast"]
    assert row["current"] and row["seconds"] == pytest.approx(6000 * 0.504 / 4, rel=0.02)
    assert "task-history" in out["forecast_reason"]


def test_chunks_scale_the_measured_per_item_cost() -> None:
    heard = views(("p@box", fit("prefork", 10, 0.02, 0.02, 0.0)))  # 2 ms per item
    per_item = run([Consumer("p", "prefork", 4)], heard, history=History(10, 0.002, 1.0))
    chunked = run([Consumer("p", "prefork", 4)], heard, children=12,
                  history=History(10, 0.002, 1.0))  # fmt: skip
    (a,), (b,) = per_item["forecast"], chunked["forecast"]
    assert "scaled × 500" in b["basis"]
    # 12 chunks of 1 s on 4 cores: 3 waves; the per-item batch pays Celery's cost 6,000 times
    assert b["seconds"] == pytest.approx(3 * 1.004, rel=0.02)
    assert a["seconds"] > b["seconds"]


def test_several_consumers_share_the_batch() -> None:
    heard = views(("a@box", fit("prefork", 10, 1.0, 0.01, 0.0)),
                  ("b@box", fit("prefork", 10, 1.0, 0.01, 0.0)))  # fmt: skip
    alone = run([Consumer("a", "prefork", 4)], heard, items=400, children=400)
    both = run([Consumer("a", "prefork", 4), Consumer("b", "prefork", 4)], heard,
               items=400, children=400)  # fmt: skip
    row = both["forecast"][0]
    assert row["current"] and row["concurrency"] == 8
    assert row["seconds"] == pytest.approx(alone["forecast"][0]["seconds"] / 2, rel=0.05)
