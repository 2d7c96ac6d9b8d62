"""The configuration audit's rules at their thresholds' edges, on plain data.

Each rule is a pure function of the app's settings (as ``_pooldesk_config`` reports them), the
workers and task history's numbers; these tests drive them with the numbers a real run gives
and check what an ops person would read: the severity, the setting cited with its source, the
measurement, and that an odd value never raises.
"""

from __future__ import annotations

from typing import Any

import pytest

from pooldesk.backend.advisor.model import Thresholds
from pooldesk.backend.audit.engine import as_advice, evaluate
from pooldesk.backend.audit.model import (
    AppConfig,
    GroupSpan,
    Measurements,
    TaskStats,
    WorkerView,
    version_at_least,
)

TH = Thresholds()


def config(transport: str = "redis", celery: str = "5.6.0", **settings: Any) -> AppConfig:
    source = "settings:proj.celeryconfig"
    data: dict[str, Any] = {
        "celery": celery,
        "transport": f"<class 'kombu.transport.{transport}.Transport'>",
        "settings": {k: {"value": v, "source": source} for k, v in settings.items()},
    }
    return AppConfig.from_answer("proj", data)


def task(name: str = "reports.build", **kw: Any) -> TaskStats:
    values: dict[str, Any] = {"queue": "default", "runs": 12, "median_s": 1.0, "max_s": 1.0}
    values.update(kw)
    return TaskStats(task=name, **values)


def worker(name: str = "w1", pool: str = "prefork", concurrency: int = 2, **kw: Any) -> WorkerView:
    return WorkerView(name=name, pool=pool, concurrency=concurrency, queues=("default",), **kw)


def rules_of(findings: list[Any]) -> dict[str, Any]:
    return {f.rule: f for f in findings}


def run(
    cfg: AppConfig,
    workers: list[WorkerView] | None = None,
    tasks: list[TaskStats] | None = None,
    groups: list[GroupSpan] | None = None,
    th: Thresholds = TH,
) -> dict[str, Any]:
    return rules_of(evaluate(cfg, workers or [], Measurements(tasks or [], groups or []), th))


VT5 = {
    "broker_transport_options": {"visibility_timeout": 5},
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
}


# -- visibility timeout ------------------------------------------------------------------------
def test_a_run_longer_than_the_visibility_timeout_is_critical_and_cites_both():
    found = run(config(**VT5), tasks=[task(max_s=8.0, started_twice=3)])["visibility_timeout"]
    assert found.severity == "critical"
    assert "8.0 s" in found.text and "5 s" in found.text
    assert "3 id(s) of it start twice" in found.text
    assert found.config[0] == {
        "setting": "broker_transport_options.visibility_timeout",
        "value": 5,
        "source": "settings:proj.celeryconfig",
    }
    assert found.measured["task"] == "reports.build" and found.measured["runs"] == 12
    assert "visibility-timeout" in found.fix["docs"]


@pytest.mark.parametrize(
    ("max_s", "severity"), [(3.99, None), (4.0, "warning"), (4.99, "warning"), (5.0, "critical")]
)
def test_visibility_timeout_edges(max_s, severity):
    found = run(config(**VT5), tasks=[task(max_s=max_s)]).get("visibility_timeout")
    assert (found.severity if found else None) == severity


def test_early_acks_do_not_expose_the_run_but_an_eta_does():
    cfg = config(broker_transport_options={"visibility_timeout": 5}, task_acks_late=False)
    assert "visibility_timeout" not in run(cfg, tasks=[task(max_s=8.0)])
    found = run(cfg, tasks=[task(max_s=0.1, max_eta_s=3700.0)])
    assert (
        run(config(task_acks_late=False), tasks=[task(max_eta_s=3700.0)])[
            "visibility_timeout"
        ].config[0]["source"]
        == "default"
    )  # Redis's own 3600 s, said to be the default
    assert "visibility_timeout" in found and "ETA" in found["visibility_timeout"].text


def test_a_duplicate_start_alone_is_critical():
    found = run(config(**VT5), tasks=[task(max_s=0.5, started_twice=1)])["visibility_timeout"]
    assert found.severity == "critical" and "start twice" in found.text


def test_amqp_has_no_visibility_timeout():
    assert "visibility_timeout" not in run(config("amqp", **VT5), tasks=[task(max_s=9000.0)])


def test_config_only_visibility_finding_is_a_warning_that_says_so():
    found = run(config(**VT5, task_time_limit=30))["visibility_timeout"]
    assert found.severity == "warning" and found.measured == {}
    assert "configuration alone" in found.text


# -- acknowledgements --------------------------------------------------------------------------
def test_acks_late_without_reject_on_worker_lost():
    cfg = config(task_acks_late=True, task_reject_on_worker_lost=False)
    found = run(cfg)["acks_late_without_reject"]
    assert found.severity == "warning" and "configuration alone" in found.text
    assert "acks_late_without_reject" not in run(config(**VT5))


@pytest.mark.parametrize(("max_s", "fires"), [(59.9, False), (60.0, True)])
def test_early_ack_on_a_long_task(max_s, fires):
    found = run(config(task_acks_late=False), tasks=[task(max_s=max_s)])
    assert ("early_ack_long_task" in found) is fires


def test_a_task_own_acks_late_counts():
    cfg = AppConfig.from_answer(
        "proj",
        {
            "celery": "5.6",
            "transport": "redis",
            "settings": {},
            "tasks": [{"name": "reports.build", "options": {"acks_late": True}}],
        },
    )
    assert "early_ack_long_task" not in run(cfg, tasks=[task(max_s=100.0)])
    assert run(cfg, tasks=[task(max_s=100.0)])["acks_late_without_reject"].measured["task"] == (
        "reports.build"
    )


# -- prefetch ----------------------------------------------------------------------------------
def long_and_short(wait: float) -> list[TaskStats]:
    return [task("slow", max_s=60.0), task("quick", max_s=0.1, max_wait_s=wait)]


@pytest.mark.parametrize(
    ("wait", "severity"), [(0.0, "warning"), (4.99, "warning"), (5.0, "critical")]
)
def test_prefetch_with_long_tasks_under_prefork(wait, severity):
    found = run(config(), [worker()], long_and_short(wait))["prefetch_long_tasks"]
    assert found.severity == severity
    assert found.config[0]["value"] == 4 and found.config[0]["source"] == "default"
    assert "--disable-prefetch" in found.fix["change"]  # Redis and Celery 5.6


@pytest.mark.parametrize(
    ("cfg", "view"),
    [
        (config(worker_prefetch_multiplier=1), worker()),
        (config(worker_prefetch_multiplier=4), worker(prefetch_multiplier=1)),
        (config(worker_disable_prefetch=True), worker()),
        (config(), worker(concurrency=1)),
        (config(), worker(pool="gevent", concurrency=100)),
    ],
)
def test_no_prefetch_finding_when_fixed(cfg, view):
    assert "prefetch_long_tasks" not in run(cfg, [view], long_and_short(9.0))


def test_no_disable_prefetch_offered_before_celery_5_6_or_off_redis():
    old = run(config(celery="5.5.3"), [worker()], long_and_short(9.0))["prefetch_long_tasks"]
    amqp = run(config("amqp"), [worker()], long_and_short(9.0))["prefetch_long_tasks"]
    assert "--disable-prefetch" not in old.fix["change"] + amqp.fix["change"]


# -- time limits -------------------------------------------------------------------------------
def test_time_limit_on_gevent_config_only_then_measured():
    gevent = worker(pool="gevent", concurrency=100)
    found = run(config(task_time_limit=30), [gevent], [task(max_s=29.0)])["gevent_time_limit"]
    assert found.severity == "warning" and "configuration alone" in found.text
    found = run(config(task_time_limit=30), [gevent], [task(max_s=30.5)])["gevent_time_limit"]
    assert found.severity == "critical" and found.measured["max_runtime_s"] == 30.5
    assert "gevent_time_limit" not in run(config(task_time_limit=30), [worker()], [task()])
    by_option = run(config(), [worker(pool="gevent", soft_time_limit=5.0)], [])
    assert by_option["gevent_time_limit"].config[0]["setting"] == "--soft-time-limit"


@pytest.mark.parametrize(
    ("runs", "max_s", "fires"), [(5, 20.0, True), (5, 19.9, False), (4, 100.0, False)]
)
def test_no_time_limit_and_a_run_twenty_times_its_median(runs, max_s, fires):
    found = run(config(), [worker()], [task(runs=runs, median_s=1.0, max_s=max_s)])
    assert ("no_time_limit" in found) is fires


def test_any_time_limit_silences_the_outlier_rule():
    slow = [task(runs=50, median_s=1.0, max_s=100.0)]
    assert "no_time_limit" not in run(config(task_time_limit=300), [worker()], slow)
    assert "no_time_limit" not in run(config(), [worker(time_limit=300.0)], slow)


# -- memory, autoscale, ETA, expiry ------------------------------------------------------------
@pytest.mark.parametrize(("mib", "fires"), [(19.9, False), (20.0, True)])
def test_memory_growth_without_per_child_limits(mib, fires):
    view = worker(uss_growth_bytes_per_min=mib * 2**20)
    assert ("memory_growth" in run(config(), [view])) is fires


def test_memory_growth_with_a_per_child_limit_is_fine():
    growing = 50.0 * 2**20
    assert "memory_growth" not in run(
        config(), [worker(uss_growth_bytes_per_min=growing, max_tasks_per_child=100)]
    )
    assert "memory_growth" not in run(
        config(worker_max_memory_per_child=200_000), [worker(uss_growth_bytes_per_min=growing)]
    )


def test_memory_growth_names_the_task_the_worker_ran_and_the_watch():
    view = worker(
        uss_growth_bytes_per_min=60 * 2**20,
        ran=(("app.leak", "default", 40), ("app.other", "default", 3)),
    )
    found = run(config(), [view], th=Thresholds(uss_growth_window_s=120))["memory_growth"]
    assert found.measured == {
        "worker": "w1",
        "uss_growth_mib_per_min": 60.0,
        "watched_s": 120.0,
        "task": "app.leak",
        "queue": "default",
        "runs": 40,
    }
    assert "while it ran app.leak (40 runs on default)" in found.text
    assert [c["setting"] for c in found.config] == [
        "worker_max_tasks_per_child",
        "worker_max_memory_per_child",
    ]


def test_memory_growth_counts_only_after_the_watch():
    """AdvisorService._growth: None until ``uss_growth_window_s`` is seen, then over up to
    twice that."""
    from collections import deque

    from pooldesk.backend.advisor.service import AdvisorService

    history: deque[tuple[float, int]] = deque()
    mib = 2**20
    assert AdvisorService._growth(history, 0.0, 100 * mib, 60.0) is None
    assert AdvisorService._growth(history, 59.9, 110 * mib, 60.0) is None
    assert AdvisorService._growth(history, 60.0, 110 * mib, 60.0) == 10 * mib  # per minute
    AdvisorService._growth(history, 120.0, 120 * mib, 60.0)
    # At 180 s the 0-s reading is older than twice the watch: measured from 60 s on.
    assert AdvisorService._growth(history, 180.0, 130 * mib, 60.0) == 10 * mib
    assert history[0][0] == 60.0


def test_autoscale_with_quorum_queues():
    scaled = worker(autoscale=(8, 2))
    quorum = AppConfig.from_answer(
        "proj",
        {"transport": "amqp", "settings": {}, "queues": [{"name": "default", "type": "quorum"}]},
    )
    assert run(quorum, [scaled])["autoscale_quorum"].severity == "warning"
    assert "autoscale_quorum" not in run(quorum, [worker()])
    assert "autoscale_quorum" not in run(config("amqp"), [scaled])
    assert "autoscale_quorum" in run(config("amqp", task_default_queue_type="quorum"), [scaled])


@pytest.mark.parametrize(("waiting", "fires"), [(99, False), (100, True)])
def test_eta_tasks_piling_up(waiting, fires):
    assert ("eta_piling" in run(config(), [worker()], [task(eta_waiting=waiting)])) is fires


def test_eta_limit_set_or_old_celery():
    assert "eta_piling" not in run(
        config(worker_eta_task_limit=50), [worker()], [task(eta_waiting=500)]
    )
    old = run(config(celery="5.5.0"), [worker()], [task(eta_waiting=500)])["eta_piling"]
    assert "upgrade to Celery 5.6" in old.fix["change"]


@pytest.mark.parametrize(("span", "fires"), [(86399.0, False), (86400.0, True)])
def test_result_expiry_shorter_than_a_group(span, fires):
    found = run(config(), groups=[GroupSpan("batch-1", 6000, span)])
    assert ("result_expiry" in found) is fires
    if fires:
        assert found["result_expiry"].severity == "critical"


# -- odd values never raise --------------------------------------------------------------------
@pytest.mark.parametrize("value", ["30", "abc", [1, 2], {"a": 1}, -5, float("nan"), True])
def test_bad_values_are_reported_never_raised(value):
    numeric = {
        name: value
        for name in (
            "worker_prefetch_multiplier",
            "task_time_limit",
            "task_soft_time_limit",
            "result_expires",
            "worker_eta_task_limit",
            "worker_soft_shutdown_timeout",
            "worker_max_tasks_per_child",
            "worker_max_memory_per_child",
        )
    }
    cfg = config(
        broker_transport_options={"visibility_timeout": value}, task_acks_late=value, **numeric
    )
    gevent = worker(pool="gevent", autoscale=(4, 1), uss_growth_bytes_per_min=10**9)
    everything = [task(max_s=100.0, eta_waiting=1000, max_wait_s=10.0, started_twice=1)]
    findings = evaluate(
        cfg, [worker(), gevent], Measurements(everything, [GroupSpan("g", 2, 1e9)]), TH
    )
    if value in ("30", "abc", -5) or isinstance(value, list | dict):
        assert any(f.rule == "bad_value" for f in findings)


def test_transport_options_not_a_dict_and_garbage_answers():
    cfg = config(broker_transport_options="visibility_timeout=5")
    assert run(cfg)["bad_value"].config[0]["value"] == "visibility_timeout=5"
    for answer in (
        {},
        {"settings": "x", "queues": "y", "tasks": [1, None]},
        {"settings": {"a": 1}},
    ):
        assert evaluate(AppConfig.from_answer("p", answer), [], Measurements(), TH) == []


def test_an_app_that_did_not_import_yields_nothing():
    cfg = AppConfig.from_answer("p", {"error": "ModuleNotFoundError: No module named 'proj'"})
    assert evaluate(cfg, [worker()], Measurements([task(max_s=1e6)]), TH) == []


# -- ids, advice, versions ---------------------------------------------------------------------
def test_ids_are_stable_and_distinct_per_task():
    one = run(config(**VT5), tasks=[task(max_s=8.0)])["visibility_timeout"]
    again = run(config(**VT5), tasks=[task(max_s=9.0)])["visibility_timeout"]
    other = run(config(**VT5), tasks=[task("other", max_s=8.0)])["visibility_timeout"]
    assert one.id == again.id != other.id


def test_a_finding_as_advice_has_the_audit_rule_family():
    found = run(config(**VT5), tasks=[task(max_s=8.0)])["visibility_timeout"]
    advice = as_advice(found)
    assert advice.rule == "audit_visibility_timeout" and advice.id == found.id
    assert advice.evidence["measured"]["max_runtime_s"] == 8.0


def test_thresholds_come_from_settings():
    th = Thresholds.from_settings({"audit_long_task_s": 10.0})
    assert "early_ack_long_task" in run(
        config(task_acks_late=False), tasks=[task(max_s=10.0)], th=th
    )


@pytest.mark.parametrize(
    ("version", "ok"),
    [
        ("5.6.0", True),
        ("5.10.1", True),
        ("5.5.9", False),
        ("6.0rc1", True),
        (None, False),
        ("x", False),
    ],
)
def test_version_at_least(version, ok):
    assert version_at_least(version, 5, 6) is ok
