"""Advisor rules over observed numbers (the same numbers the real sampler and probe produce)."""

from __future__ import annotations

from pooldesk.backend.advisor.engine import Advisor
from pooldesk.backend.advisor.model import BatchObs, Observations, Thresholds, WorkerObs
from pooldesk.backend.advisor.rules import evaluate
from pooldesk.backend.units import human_ms

TH = Thresholds()


def gevent_worker(**kw) -> WorkerObs:  # type: ignore[no-untyped-def]
    base = dict(
        name="g1",
        hostname="g1@h",
        local=True,
        pool="gevent",
        concurrency=20,
        queues=["invoices"],
        state="online",
    )
    return WorkerObs(**{**base, **kw})


def test_cpu_queue_on_gevent_is_predicted_then_measured() -> None:
    idle = Observations(workers=[gevent_worker()], cores=2)
    [predicted] = evaluate(idle, TH)
    assert predicted.severity == "warning" and "Not measured yet" in predicted.text
    busy = Observations(
        workers=[
            gevent_worker(
                active=5,
                cores_used=0.98,
                loop_lag_ms_max=2148.6,
                blocked_reports_recent=12,
                ping_seconds=1.4,
            )
        ],
        cores=2,
    )
    [measured] = evaluate(busy, TH)
    assert measured.severity == "critical" and measured.id == predicted.id
    assert measured.evidence["loop_lag_ms_max"] == 2148.6  # the evidence stays numeric (JSON)
    assert measured.evidence["cores_used"] == 0.98
    assert "lag up to 2.1 s," in measured.text  # the text reads in seconds from 1 s up
    assert measured.fix and measured.fix.kind == "restart_worker"
    assert measured.fix.params == {"name": "g1", "pool": "prefork", "concurrency": 2}
    assert "prefork × 2" in measured.fix.confirm


def test_gevent_on_io_queue_and_prefork_on_cpu_queue_are_fine() -> None:
    obs = Observations(
        workers=[
            gevent_worker(queues=["monitoring"], active=50, loop_lag_ms_max=3.0),
            WorkerObs(
                "p", "p@h", True, "prefork", 2, ["invoices"], "online", active=2, cores_used=1.95
            ),
        ],
        cores=2,
    )
    assert evaluate(obs, TH) == []


def test_wide_prefork_on_io_queue_wastes_ram() -> None:
    w = WorkerObs(
        "p", "p@h", True, "prefork", 16, ["monitoring"], "online", uss_bytes=16 * 25 * 2**20
    )
    [advice] = evaluate(Observations(workers=[w], cores=2), TH)
    assert advice.rule == "io_under_prefork" and advice.evidence["uss_per_slot_bytes"] > 0
    assert advice.fix and advice.fix.params["pool"] == "gevent"


def test_oversubscribed_prefork_offers_live_shrink() -> None:
    w = WorkerObs("p", "p@h", True, "prefork", 8, ["invoices"], "online")
    [advice] = evaluate(Observations(workers=[w], cores=2), TH)
    assert advice.rule == "prefork_oversubscribed"
    assert advice.fix and advice.fix.kind == "resize_worker"


def test_batch_waiting_on_a_queue_nobody_consumes() -> None:
    obs = Observations(
        batches=[BatchObs("abcdef0123", "invoices", "invoices", 12, 0)],
        queue_waiting={"invoices": 12},
        cores=2,
    )
    rules = {a.rule: a for a in evaluate(obs, TH)}
    assert "deadlock_risk" in rules and "no worker consumes" in rules["deadlock_risk"].text
    assert rules["no_consumer"].fix and rules["no_consumer"].fix.params["pool"] == "prefork"


def test_ram_pressure_crash_loop_and_broker() -> None:
    obs = Observations(
        ram_available_bytes=300 * 2**20,
        ram_total_bytes=8 * 2**30,
        workers=[
            WorkerObs(
                "c",
                "c@h",
                True,
                "prefork",
                1,
                ["default"],
                "crashed",
                starts_recent=4,
                exit="exit code 1",
                gave_up=True,
            )
        ],
        cores=2,
    )
    rules = {a.rule for a in evaluate(obs, TH)}
    assert rules == {"ram_pressure", "crash_loop"}
    down = Observations(broker_up=False, broker_error="broker unreachable at redis://:****@x")
    [advice] = evaluate(down, TH)
    assert advice.rule == "broker_unreachable" and "****" in advice.text


def test_hysteresis_raises_after_n_and_clears_after_m() -> None:
    advisor = Advisor(Thresholds(raise_after=2, clear_after=3))
    bad = Observations(
        workers=[WorkerObs("p", "p@h", True, "prefork", 8, ["invoices"], "online")], cores=2
    )
    good = Observations(
        workers=[WorkerObs("p", "p@h", True, "prefork", 2, ["invoices"], "online")], cores=2
    )
    assert advisor.update(bad).current == []  # one breach is not enough
    second = advisor.update(bad)
    assert [a.rule for a in second.appeared] == ["prefork_oversubscribed"]
    assert len(advisor.update(good).current) == 1  # still shown while it may flap back
    assert len(advisor.update(good).current) == 1
    third = advisor.update(good)
    assert third.current == [] and third.cleared == ["oversubscribed:p@h"]
    # A breach, a clean pass, a breach: never two in a row, never shown.
    advisor.update(bad)
    advisor.update(good)
    assert advisor.update(bad).current == []


def test_thresholds_come_from_settings() -> None:
    th = Thresholds.from_settings({"lag_ms": 50, "raise_after": 1, "unknown": 3})
    assert th.lag_ms == 50 and th.raise_after == 1


def test_loop_lag_reads_in_ms_below_one_second_and_in_seconds_above() -> None:
    assert [human_ms(v) for v in (3.2, 812.5, 999.4, 999.6, 36255.0)] == [
        "3 ms", "812 ms", "999 ms", "1.0 s", "36.3 s"
    ]  # fmt: skip
    assert human_ms(812.54, ms_decimals=1) == "812.5 ms"
    busy = gevent_worker(active=3, cores_used=0.5, loop_lag_ms_max=640.0)
    [advice] = evaluate(Observations(workers=[busy], cores=2), TH)
    assert "lag up to 640 ms," in advice.text
