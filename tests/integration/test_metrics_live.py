"""``pooldesk metrics serve`` on a real broker with a real worker: what a Prometheus scrape
sees after tasks ran (the exposition itself is tested without a broker in
tests/unit/test_metrics.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.metrics_scrape import free_port, value, wait_for


@pytest.mark.slow
def test_metrics_serve_shows_a_real_workers_tasks(home: Path, manager) -> None:  # type: ignore[no-untyped-def]
    from pooldesk.backend.celery_app import make_app
    from pooldesk.backend.workers.spec import WorkerSpec

    info = manager.start(WorkerSpec("m1", "gevent", 10, ("default",)))
    port = free_port()
    serve = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from pooldesk.backend.cli import entry; entry()",
            "metrics",
            "serve",
            "--port",
            str(port),
            "--json",
        ],
        env={**os.environ, "POOLDESK_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert serve.stdout is not None
        lines = [serve.stdout.readline()]
        while lines[-1] and lines[-1].strip() != "}":
            lines.append(serve.stdout.readline())
        assert json.loads("".join(lines)) == {
            "port": port,
            "url": f"http://127.0.0.1:{port}/metrics",
        }
        url = f"http://127.0.0.1:{port}/metrics"
        wait_for(url, lambda m: value(m, "pooldesk_event_monitor_connected") == 1)
        app = make_app(manager.config.broker_url, manager.config.result_backend, include=[])
        assert [app.send_task("pooldesk.noop", queue="default").get(timeout=20) for _ in range(5)]
        app.close()
        host = info.hostname
        metrics = wait_for(
            url,
            lambda m: (
                value(m, "celery_task_succeeded_total", name="pooldesk.noop", hostname=host) == 5
                and value(m, "celery_worker_up", hostname=host) == 1
            ),
        )
        assert value(metrics, "pooldesk_worker_cores_used", hostname=info.hostname) >= 0
        assert value(metrics, "pooldesk_broker_up") == 1
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=20) == 0
    finally:
        if serve.poll() is None:
            serve.kill()
