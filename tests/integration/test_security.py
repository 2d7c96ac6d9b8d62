"""Security guarantees a user relies on: JSON only, secrets never shown."""

from __future__ import annotations

import time

import pytest
from kombu import Connection, Exchange, Producer

from pooldesk.backend.celery_app import make_app
from pooldesk.backend.workers.manager import WorkerManager
from pooldesk.backend.workers.spec import WorkerSpec

pytestmark = pytest.mark.slow


def test_a_pickled_message_is_refused_and_never_executed(manager: WorkerManager) -> None:
    manager.start(WorkerSpec("w", "prefork", 1, ("default",)))
    app = make_app(manager.config.broker_url, manager.config.result_backend, include=[])
    task_id = "pickled-probe"
    body = ((0.1,), {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None})
    with Connection(manager.config.broker_url) as conn:
        Producer(conn).publish(
            body,
            exchange=Exchange("default", type="direct"),
            routing_key="default",
            serializer="pickle",
            declare=[app.amqp.queues["default"]],
            headers={
                "lang": "py",
                "task": "pooldesk.sleep",
                "id": task_id,
                "argsrepr": "",
                "kwargsrepr": "",
            },
        )
    deadline = time.monotonic() + 15
    log = ""
    while time.monotonic() < deadline and "untrusted content" not in log:
        time.sleep(0.2)
        log = "\n".join(manager.logs("w", 400))
    assert "Refusing to deserialize untrusted content of type pickle" in log
    assert app.AsyncResult(task_id).state == "PENDING"  # never ran, no result stored
    # The worker is still healthy and runs JSON tasks.
    assert app.send_task("pooldesk.noop", queue="default").get(timeout=20) == "ok"
    app.close()
