"""The demo's invoice parent retrying a database error while the broker is away.

A parent whose customer read fails (the invoice database restarting) retries itself with
``self.retry``: a new message through the broker. With the broker away as well, that publish
fails and Celery (5.7) rejects the parent: no FAILURE is stored, but the task history and the
telemetry count a REJECTED task "failed" and the worker logs a traceback, for a fault the
launch's lease survives (it sends the parent again). The parent now lapses instead, as after
every other publish failure of a parent (``_lapse``): it ends quietly and stays leased.

The parent runs through Celery's own tracer on the managed Redis, as a worker runs it (see
``test_batch_plan_publish.py``); the faults are forced at their seams: the database engine
(sqlalchemy's ``OperationalError``) and the retry's publish (kombu's ``OperationalError``).
"""

from __future__ import annotations

from typing import Any

import pytest
from celery import Task
from celery.app.trace import build_tracer
from kombu.exceptions import OperationalError as BrokerDown
from sqlalchemy.exc import OperationalError as DatabaseDown

from pooldesk.backend.batches import watchdog
from pooldesk.backend.batches.ledger import ledger_for
from pooldesk.backend.broker.resolve import BrokerConfig
from pooldesk.backend.celery_app import make_app
from pooldesk.backend.tasks import batches


def test_a_database_retry_the_broker_cannot_take_leaves_the_parent_leased(
    broker: BrokerConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(broker.broker_url, broker.result_backend, include=[])

    @app.task(bind=True, name="test.plan.retry", max_retries=3)
    def plan(self: Task, batch_id: str, params: dict[str, Any]) -> Any:
        return batches.plan_invoices.run.__func__(self, batch_id, params)

    def database_down() -> Any:
        raise DatabaseDown("SELECT customers.id", {}, ConnectionRefusedError("connection refused"))

    def broker_down(*args: Any, **kwargs: Any) -> Any:
        raise BrokerDown("Error 111 connecting to 127.0.0.1. Connection refused.")

    monkeypatch.setattr(batches, "make_engine", database_down)
    monkeypatch.setattr(app, "send_task", broker_down)  # the retry's publish
    batch_id = "parent-retry-broker-down"
    params = {"period": "2026-11", "chunk_size": 5, "queue": "invoices"}
    ledger = ledger_for(app)  # what the launch wrote: the parent is leased from the start
    ledger.write_meta({"id": batch_id, "kind": "invoices", "params": params, "planning": True})
    ledger.arm(batch_id, 0, watchdog.LEASE_S)

    trace = build_tracer(plan.name, plan, app=app, eager=False)
    _, info, _, _ = trace(batch_id, [batch_id, params], {}, {"id": batch_id, "delivery_info": {}})

    state = app.backend.get_task_meta(batch_id)
    assert state["status"] != "FAILURE", state  # FAILURE: the panel marks the batch "error"
    assert info.state == "IGNORED", info  # ended quietly, not rejected with a traceback
    # Still leased: once the lease lapses a watchdog sends the parent again.
    assert ledger.claim(watchdog.LEASE_S, "one", batch_id, force=True) == [(batch_id, 1)]
