"""Prometheus exposition: scraped over real HTTP, parsed with prometheus_client's own parser."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from pooldesk.backend.advisor.model import Advice
from pooldesk.backend.broker.status import BrokerStatus
from pooldesk.backend.metrics.collector import MetricsInput
from pooldesk.backend.metrics.server import MetricsFeed, MetricsServer
from pooldesk.backend.telemetry.eventstate import EventState
from pooldesk.backend.telemetry.samples import ProcessSample, Snapshot, SystemSample
from pooldesk.backend.workers.manager import WorkerInfo
from tests.metrics_scrape import scrape, value


def _events() -> EventState:
    state = EventState()
    base = 1_000.0
    for i in range(3):
        uid = f"t{i}"
        state.apply(
            {
                "type": "task-sent",
                "uuid": uid,
                "name": "proj.add",
                "queue": "math",
                "timestamp": base,
            }
        )
        state.apply(
            {
                "type": "task-received",
                "uuid": uid,
                "name": "proj.add",
                "hostname": "w1@h",
                "timestamp": base,
            }
        )
        state.apply(
            {"type": "task-started", "uuid": uid, "hostname": "w1@h", "timestamp": base + 0.1}
        )
        kind = "task-failed" if i == 2 else "task-succeeded"
        state.apply(
            {"type": kind, "uuid": uid, "hostname": "w1@h", "runtime": 0.3, "timestamp": base + 0.4}
        )
    state.apply(
        {"type": "task-succeeded", "uuid": "t0", "hostname": "w1@h", "timestamp": base + 1}
    )  # duplicate
    return state


def test_task_counters_runtime_workers_warnings_as_celery_exporter_names() -> None:
    worker = WorkerInfo("w1", "w1@h", 42, "gevent", 20, ["math"], "online", False, active=0)
    sample = ProcessSample(
        "w1",
        "worker",
        42,
        98.0,
        80 * 2**20,
        90 * 2**20,
        0,
        12,
        5.0,
        0.98,
        0.97,
        "w1@h",
        "gevent",
        20,
    )
    system = SystemSample(50.0, (50.0, 50.0), 1, 1, 2, 0, 0)
    advice = Advice("a1", "cpu_under_gevent", "critical", "t", "x", {})
    feed = MetricsFeed()
    feed.update(
        MetricsInput(
            events=_events().snapshot(),
            samples=Snapshot(1.0, system, {"w1": sample}),
            workers=(worker,),
            broker=BrokerStatus("redis://:****@127.0.0.1:1/0", True, True, queues={"math": 7}),
            advice=(advice,),
        )
    )
    server = MetricsServer(feed, port=0).start()
    try:
        metrics = scrape(server.url)
    finally:
        server.stop()
    labels = {"name": "proj.add", "hostname": "w1@h", "queue_name": "math"}
    assert value(metrics, "celery_task_received_total", **labels) == 3
    assert value(metrics, "celery_task_succeeded_total", **labels) == 2  # duplicate ignored
    assert value(metrics, "celery_task_failed_total", **labels) == 1
    assert value(metrics, "celery_task_sent_total", name="proj.add", queue_name="math") == 3
    assert value(metrics, "celery_task_runtime_count", name="proj.add", queue_name="math") == 3
    assert value(metrics, "celery_task_runtime_bucket", name="proj.add", le="0.25") == 0
    assert value(metrics, "celery_task_runtime_bucket", name="proj.add", le="0.5") == 3
    assert value(metrics, "celery_worker_up", hostname="w1@h") == 1
    assert value(metrics, "pooldesk_worker_cores_used", hostname="w1@h") == pytest.approx(0.98)
    assert value(metrics, "pooldesk_worker_concurrency", hostname="w1@h", pool="gevent") == 20
    assert value(metrics, "celery_queue_length", queue_name="math") == 7
    assert value(metrics, "pooldesk_warnings", rule="cpu_under_gevent", severity="critical") == 1


def test_loopback_only_and_the_port_is_released() -> None:
    server = MetricsServer(MetricsFeed(), port=0).start()
    port = server.port
    try:
        assert server.url == f"http://127.0.0.1:{port}/metrics"
        assert scrape(server.url) == {}  # nothing measured yet: an empty page, not an error
        listening = [
            c.laddr
            for c in psutil.Process().net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port
        ]
        assert [a.ip for a in listening] == ["127.0.0.1"]  # loopback, not every interface
    finally:
        server.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_series_are_capped() -> None:
    from pooldesk.backend.telemetry.tally import OTHER, TaskTally

    tally = TaskTally(max_series=10)
    for i in range(50):
        tally.count("succeeded", f"generated.{i}", "w@h", "q")
    counts = tally.view().counts
    assert len(counts) == 11 and counts[("succeeded", OTHER, "", OTHER)] == 40


def test_the_grafana_dashboard_charts_only_metrics_we_expose() -> None:
    """packaging/grafana-dashboard.json must not rot: every metric it queries is ours."""
    import re

    from pooldesk.backend.metrics.collector import PooldeskCollector

    exposed = {
        sample_name
        for family in PooldeskCollector(MetricsInput).collect()
        for sample_name in (family.name, family.name + "_total", family.name + "_bucket")
    }
    dashboard = json.loads(
        (Path(__file__).resolve().parents[2] / "packaging" / "grafana-dashboard.json").read_text()
    )
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {m for e in exprs for m in re.findall(r"\b((?:celery|pooldesk)_[a-z_]+)\b", e)}
    assert used and used <= exposed, used - exposed


def test_pool_fit_is_exposed() -> None:
    """The measured nature of each queue, and the trap as a number an alert can fire on."""
    from pooldesk.backend.fit.table import QueueFit

    row = QueueFit(
        queue="reports", nature="blocking", runs=12, cpu_share=0.02, hold_share=0.97,
        mean_wall_s=1.0, hold_max_s=1.0, measured_on="gevent", basis="measured", declared=None,
        workers=["r1: gevent × 20"], verdict="trap", severity="critical",
        recommendation="prefork × 2",
    )  # fmt: skip
    feed = MetricsFeed()
    feed.update(MetricsInput(fit=(row,)))
    server = MetricsServer(feed, port=0).start()
    try:
        metrics = scrape(server.url)
    finally:
        server.stop()
    assert value(metrics, "pooldesk_queue_nature", queue_name="reports", nature="blocking") == 1
    assert value(metrics, "pooldesk_queue_loop_hold_share", queue_name="reports") == 0.97
    assert value(metrics, "pooldesk_queue_pool_misfit", queue_name="reports", verdict="trap") == 1
    assert value(metrics, "pooldesk_queue_measured_runs_total", queue_name="reports") == 12


def test_audit_findings_are_a_gauge_per_finding() -> None:
    """``pooldesk_audit_finding``: one series per current finding, its id a label to alert on."""
    from pooldesk.backend.audit.model import Finding

    found = Finding(
        "visibility_timeout", "critical", "t", "x", [], {"task": "reports.build"}, {}, "ledger"
    )
    feed = MetricsFeed()
    feed.update(MetricsInput(audit=(found,)))
    server = MetricsServer(feed, port=0).start()
    try:
        metrics = scrape(server.url)
    finally:
        server.stop()
    labels = {"project": "ledger", "rule": "visibility_timeout", "severity": "critical"}
    assert value(metrics, "pooldesk_audit_finding", id=found.id, **labels) == 1
