"""The launch forecast end to end: a real gevent worker running a user's app (tests/fitapp.py),
its probe's reports heard on the managed broker, rows in the contract's shape.

One worker for the module (starting it is the slow part). Shape and ordering only, never
timing thresholds: the machine is shared.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery

from pooldesk.backend.batches.forecast import Consumer, forecast_batch
from pooldesk.backend.workers.spec import WorkerSpec
from tests.liveworkers import running_workers

# Measures CPU shares and speeds: alone, after the parallel run (Makefile, test-noqt).
pytestmark = [pytest.mark.slow, pytest.mark.serial]

APP = "tests.fitapp:app"
QUEUE = "fc_cpu"
GEVENT = Consumer("fcg", "gevent", 20)


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A gevent × 20 worker on a queue of its own that has run a CPU task a few times."""
    spec = WorkerSpec(GEVENT.name, "gevent", 20, (QUEUE,), app=APP)
    with running_workers(tmp_path_factory.mktemp("forecast") / "home", spec) as run:
        app = Celery(broker=run.config.broker_url, backend=run.config.result_backend)
        try:
            calls = [app.send_task("fitapp.cpu", args=[0.2], queue=QUEUE) for _ in range(4)]
            for call in calls:
                call.get(timeout=90)
            yield
        finally:
            app.close()


def _forecast(task: str, consumers: list[Consumer], items: int = 40) -> dict[str, Any]:
    # a generous timeout: the probe's idle reports come every 2 s, and the box is shared
    return forecast_batch(
        project=None,
        task=task,
        queue=QUEUE,
        items=items,
        children=items,
        consumers=consumers,
        timeout_s=5.0,
    )


def test_a_cpu_task_trapped_on_gevent_is_forecast_faster_on_the_recommended_prefork(
    measured: None,
) -> None:
    out = _forecast("fitapp.cpu", [GEVENT])
    assert out["forecast_reason"] is None, out
    rows = out["forecast"]
    assert [set(r) for r in rows] == [{"pool", "concurrency", "seconds", "current", "basis"}] * 2
    here, there = rows
    assert (here["pool"], here["concurrency"], here["current"]) == ("gevent", 20, True)
    assert there["pool"] == "prefork" and there["current"] is False
    assert there["concurrency"] >= 1
    assert 0 < there["seconds"] < here["seconds"]  # its CPU no longer takes turns in one loop
    assert "measured on gevent" in here["basis"] and "per call" in here["basis"]


def test_a_task_never_run_has_no_forecast_and_says_why(measured: None) -> None:
    out = _forecast("fitapp.noop", [GEVENT])
    assert out["forecast"] == []
    assert "fitapp.noop has not been measured yet" in out["forecast_reason"]
    out = _forecast("fitapp.cpu", [])
    assert out["forecast"] == [] and "nothing consumes fc_cpu" in out["forecast_reason"]


def test_a_broker_that_does_not_answer_gives_a_reason_not_an_error(
    home: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POOLDESK_BROKER_URL", "redis://127.0.0.1:9/0")  # discard port: refused
    out = forecast_batch(
        project=None, task="fitapp.cpu", queue=QUEUE, items=10, children=10,
        consumers=[GEVENT], timeout_s=3.0,
    )  # fmt: skip
    assert out["forecast"] == []
    reason = out["forecast_reason"]
    assert reason.startswith("fitapp.cpu's measurements could not be read: broker unreachable")
