"""A real Prometheus scrapes ``pooldesk metrics serve``, and every query of the Grafana dashboard
runs against it.

Grafana's Prometheus data source only ever sends PromQL to Prometheus's HTTP API, so a query that
Prometheus answers here is one the dashboard can chart. Needs a ``prometheus`` binary
(Debian/Ubuntu: ``apt install prometheus``; any 2.x); skipped with the reason where there is none.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PROMETHEUS = shutil.which("prometheus")
CLI = [sys.executable, "-c", "from pooldesk.backend.cli import entry; entry()"]
DASHBOARD = Path(__file__).resolve().parents[2] / "packaging" / "grafana-dashboard.json"
# Series a running worker with finished tasks must have; the rest may be legitimately empty
# (no warnings, no batch, no gevent loop lag on a quiet worker).
MUST_HAVE_DATA = (
    "sum(celery_worker_up)",
    "sum(rate(celery_task_succeeded_total[1m]))",
    "pooldesk_worker_cores_used",
    "pooldesk_worker_concurrency",
    "celery_queue_length",
    "pooldesk_worker_memory_uss_bytes",
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.program("prometheus"),  # .ci/run installs it (apt install prometheus)
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _query(base: str, expr: str) -> dict[str, Any]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]
    except urllib.error.HTTPError as exc:  # a bad query: Prometheus says why, as JSON
        return json.loads(exc.read())  # type: ignore[no-any-return]


def _until(what: str, check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = check()
        except OSError:
            found = None
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """Prometheus on a free loopback port, scraping a metrics port chosen here every second."""
    assert PROMETHEUS is not None
    target = _free_port()
    port = _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: pooldesk\n    static_configs: [{{targets: ['127.0.0.1:{target}']}}]\n"
    )
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("w"),
    )
    try:
        yield f"http://127.0.0.1:{port}", target
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_prometheus_scrapes_live_figures_and_every_dashboard_query_runs(
    home: Path,
    manager,  # type: ignore[no-untyped-def]
    prometheus: tuple[str, int],
) -> None:
    from pooldesk.backend.celery_app import make_app
    from pooldesk.backend.workers.spec import WorkerSpec

    base, metrics_port = prometheus
    info = manager.start(WorkerSpec("g1", "gevent", 10, ("default",)))
    serve = subprocess.Popen(
        [*CLI, "metrics", "serve", "--port", str(metrics_port)],
        env={**os.environ, "POOLDESK_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        up = f'up{{job="pooldesk",instance="127.0.0.1:{metrics_port}"}}'
        _until("the scrape target", lambda: _value(_query(base, up)) == 1.0)
        # Events sent before the exporter listens are not counted (as with celery-exporter).
        _until(
            "the event monitor",
            lambda: _value(_query(base, "pooldesk_event_monitor_connected")) == 1,
        )
        app = make_app(manager.config.broker_url, manager.config.result_backend, include=[])
        done = f'sum(celery_task_succeeded_total{{hostname="{info.hostname}"}})'
        try:
            # Two rounds: a counter series that first appears at 5 has no increase for rate()
            # to see until it moves again, so the second round makes the rate panels non-empty.
            for total in (5, 10):
                for _ in range(5):
                    app.send_task("pooldesk.noop", queue="default").get(timeout=20)
                _until(
                    f"{total} tasks in Prometheus", lambda t=total: _value(_query(base, done)) == t
                )
        finally:
            app.close()
        rate = "sum(rate(celery_task_succeeded_total[1m]))"
        assert (_value(_query(base, rate)) or 0) > 0

        dashboard = json.loads(DASHBOARD.read_text())
        exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
        assert len(exprs) >= 15
        for expr in exprs:
            answer = _query(base, expr)
            assert answer["status"] == "success", (expr, answer)
            if expr in MUST_HAVE_DATA:
                assert answer["data"]["result"], f"no data for {expr}"
        assert set(MUST_HAVE_DATA) <= set(exprs)  # the list above names real panels
        workers = _query(base, "sum(celery_worker_up)")
        assert _value(workers) == 1.0
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(timeout=20)
        except subprocess.TimeoutExpired:
            serve.kill()


def _value(answer: dict[str, Any]) -> float | None:
    """The single number of an instant-vector answer (None when empty)."""
    result = answer.get("data", {}).get("result", [])
    return float(result[0]["value"][1]) if result else None
