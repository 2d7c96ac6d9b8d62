"""The per-process ceiling rule, over the numbers measured on this machine (FACTS: a gevent
process tops out near 110–150 tasks/s at ≈ 9 ms of Celery CPU per task)."""

from __future__ import annotations

from pooldesk.backend.advisor.ceiling import TaskRates
from pooldesk.backend.advisor.model import Observations, Thresholds, WorkerObs
from pooldesk.backend.advisor.rules import evaluate

TH = Thresholds()


def monitoring_worker(**kw) -> WorkerObs:  # type: ignore[no-untyped-def]
    base = dict(
        name="mon",
        hostname="mon@h",
        local=True,
        pool="gevent",
        concurrency=200,
        queues=["monitoring"],
        state="online",
        active=200,
        cores_used=0.97,
        tasks_per_s=115.0,
    )
    return WorkerObs(**{**base, **kw})


def test_a_gevent_worker_at_one_core_with_a_backlog_is_told_what_helps() -> None:
    obs = Observations(workers=[monitoring_worker()], queue_waiting={"monitoring": 4200}, cores=2)
    [advice] = [a for a in evaluate(obs, TH) if a.rule == "process_ceiling"]
    assert advice.evidence["cpu_ms_per_task"] == 8.43  # 0.97 cores / 115 tasks/s
    assert advice.evidence["ceiling_tasks_per_s"] == 118.6
    assert "Raising concurrency will not help" in advice.text and "4,200 tasks wait" in advice.text
    assert advice.fix and advice.fix.kind == "start_worker"
    assert advice.fix.params == {
        "name": "mon-2",
        "pool": "gevent",
        "concurrency": 200,
        "queues": ["monitoring"],
    }


def test_no_ceiling_without_a_backlog_a_busy_core_or_a_high_rate() -> None:
    calm = [
        Observations(workers=[monitoring_worker()], queue_waiting={}, cores=2),
        Observations(
            workers=[monitoring_worker(cores_used=0.4)], queue_waiting={"monitoring": 9}, cores=2
        ),
        Observations(  # one slow CPU-heavy task at a time: not Celery's bookkeeping
            workers=[monitoring_worker(tasks_per_s=2.0)], queue_waiting={"monitoring": 9}, cores=2
        ),
    ]
    for obs in calm:
        assert not [a for a in evaluate(obs, TH) if a.rule == "process_ceiling"], obs


def test_prefork_counts_one_core_per_process_and_offers_no_fix_when_cores_are_used() -> None:
    worker = monitoring_worker(pool="prefork", concurrency=2, cores_used=1.9, tasks_per_s=520.0)
    obs = Observations(workers=[worker], queue_waiting={"monitoring": 100}, cores=2)
    [advice] = [a for a in evaluate(obs, TH) if a.rule == "process_ceiling"]
    assert advice.evidence["processes"] == 2 and advice.fix is None
    half = Observations(
        workers=[monitoring_worker(pool="prefork", concurrency=2, cores_used=1.0)],
        queue_waiting={"monitoring": 100},
        cores=2,
    )
    assert not [a for a in evaluate(half, TH) if a.rule == "process_ceiling"]


def test_task_rates_need_five_seconds_and_restart_with_the_worker() -> None:
    rates = TaskRates()
    assert rates.rate("w@h", 100.0, 1000) is None
    assert rates.rate("w@h", 103.0, 1300) is None
    assert rates.rate("w@h", 106.0, 1600) == 100.0
    assert rates.rate("w@h", 107.0, 5) is None  # restarted: its count began again
    assert rates.rate("w@h", 112.0, 505) == 100.0
