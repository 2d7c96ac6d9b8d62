"""The operations API on real workers and the real managed broker: the calls the CLI, the
window and the fleet agent make, from JSON requests to JSON outcomes."""

from __future__ import annotations

import json

import pytest

from pooldesk.backend.operations import Operations, Request
from pooldesk.backend.workers.manager import WorkerManager
from tests.waiting import wait_for

pytestmark = pytest.mark.slow


_wait = wait_for


def _json(request: Request) -> Request:
    """As the agent gets it: through JSON text."""
    return Request.from_json(json.dumps(request.to_json()))


def test_start_resize_restart_logs_stop_through_one_api(manager: WorkerManager) -> None:
    ops = Operations(manager)
    start = Request("start", "w1", {"pool": "prefork", "concurrency": 1, "queues": ["default"]})
    first = ops.submit(_json(start))
    assert first.state == "pending"
    end = _wait(lambda: next((o for o in ops.tick() if o.final), None), timeout=30)
    assert (end.id, end.ok) == (start.id, True) and end.text.startswith("w1 is online (prefork")
    assert end.data["worker"]["state"] == "online"
    json.dumps(end.to_json())  # JSON all the way

    live = ops.submit(_json(Request("resize", "w1", {"concurrency": 2})))
    assert (live.state, live.data["method"]) == ("done", "live")
    _wait(lambda: manager.info("w1").children == 2)

    pid = manager.info("w1").pid
    restarted = ops.run(Request("restart", "w1", {"pool": "gevent", "concurrency": 5}), 60)
    assert restarted.ok and restarted.text.startswith("w1 restarted as gevent × 5")
    assert restarted.data["worker"]["pid"] != pid

    logs = ops.submit(Request("logs", "w1", {"lines": 200}))
    assert logs.state == "done" and any("ready" in line for line in logs.data["lines"])

    stopped = ops.run(Request("stop", "w1", {"timeout": 20}), 60)
    assert stopped.ok and stopped.data["worker"]["state"] == "stopped"
    forgotten = ops.submit(Request("forget", "w1"))
    assert forgotten.ok and manager.store.load("w1") is None


def test_resize_of_a_threads_worker_restarts_it(manager: WorkerManager) -> None:
    ops = Operations(manager)
    assert ops.run(Request("start", "t", {"pool": "threads", "concurrency": 2}), 60).ok
    pid = manager.info("t").pid
    first = ops.submit(Request("resize", "t", {"concurrency": 4}))
    assert first.state == "pending"
    end = _wait(lambda: next((o for o in ops.tick() if o.final), None), timeout=60)
    assert end.ok and end.data["worker"]["concurrency"] == 4
    assert end.data["worker"]["pid"] != pid


def test_a_crashing_start_reports_its_log(manager: WorkerManager) -> None:
    manager.restarts = 0
    ops = Operations(manager)
    request = Request("start", "bad", {"app": "no_such_module:app"})
    end = ops.run(request, 60)
    assert (end.state, end.data["reason"]) == ("failed", "crashed")
    assert "no_such_module" in end.text
