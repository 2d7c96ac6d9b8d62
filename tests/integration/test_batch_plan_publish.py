"""A planning parent whose publish fails across a broker restart must not end the batch "error".

Measured (tests/integration/test_faults_batches.py under parallel load): the plan task had
written the ledger and sent its children when the broker restarted; its ``self.replace`` into
the first watch round then raised kombu's ``AttributeError: 'NoneType' object has no attribute
'client'`` (a Redis channel whose connection kombu had closed), the parent stored FAILURE and
``BatchService.refresh`` marked the batch "error" although the watchdog re-armed it at once.

The race is forced here at the seam where kombu raised it (``Celery.send_task``, the publish),
and the parent runs through Celery's own tracer on a real Redis, as a worker runs it: the state
it leaves is what the panel reads.
"""

from __future__ import annotations

from typing import Any

import pytest
from celery import Task
from celery.app.trace import build_tracer
from redis.exceptions import ConnectionError as RedisConnectionError

from pooldesk.backend.batches import watchdog
from pooldesk.backend.batches.ledger import Ledger, ledger_for
from pooldesk.backend.batches.plan import invoice_children
from pooldesk.backend.broker.resolve import BrokerConfig
from pooldesk.backend.celery_app import make_app
from pooldesk.backend.tasks import batches

KOMBU_RACE = "'NoneType' object has no attribute 'client'"


@pytest.mark.parametrize("failing", [watchdog.WATCH_TASK, "pooldesk.invoices.chunk"])
def test_a_publish_failing_mid_plan_leaves_the_batch_leased_not_failed(
    broker: BrokerConfig, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    sent: list[str] = []

    def send_task(name: str, *args: Any, **kwargs: Any) -> None:
        # The first round's publish, or the second child's (the first one went out).
        if name == failing and (name == watchdog.WATCH_TASK or sent.count(name) == 1):
            raise AttributeError(KOMBU_RACE)
        sent.append(name)

    app = make_app(broker.broker_url, broker.result_backend, include=[])

    @app.task(bind=True, name="test.plan")
    def plan(self: Task, batch: dict[str, Any], children: list[dict[str, Any]]) -> Any:
        return batches._start(self, batch, children)

    # The publishes go through the tasks' own app (batches.app): faked there, at the publish.
    monkeypatch.setattr(batches.app, "send_task", send_task)
    batch_id = "plan-publish-race"
    children = invoice_children(batch_id, [1, 2, 3], 1, "2026-11")
    batch = {"id": batch_id, "kind": "invoices", "queue": "invoices", "started_at": 0.0}
    batch.update(params={}, missing=0, children=len(children), items=len(children))

    trace = build_tracer(plan.name, plan, app=app, eager=False)
    trace(batch_id, [batch, children], {}, {"id": batch_id, "delivery_info": {}})

    assert sent.count("pooldesk.invoices.chunk") == (3 if failing == watchdog.WATCH_TASK else 1)
    state = app.backend.get_task_meta(batch_id)
    assert state["status"] != "FAILURE", state  # FAILURE: the panel marks the batch "error"
    ledger = ledger_for(app)
    assert ledger.exists(batch_id)  # planned: a re-armed round finds every child in the ledger
    # Still leased: the watchdog (or the panel) re-arms it once the lease lapses.
    assert ledger.claim(watchdog.LEASE_S, "one", batch_id, force=True) == [(batch_id, 1)]


def test_redis_restarting_as_a_parent_looks_for_its_plan_leaves_it_leased(
    broker: BrokerConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    def exists(self: Ledger, batch_id: str) -> bool:
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1. Connection refused.")

    app = make_app(broker.broker_url, broker.result_backend, include=[])

    @app.task(bind=True, name="test.plan.look")
    def plan(self: Task, batch_id: str) -> None:
        batches._planned_already(self, batch_id)

    monkeypatch.setattr(Ledger, "exists", exists)  # the seam: the ledger's one Redis read
    batch_id = "plan-look-race"
    trace = build_tracer(plan.name, plan, app=app, eager=False)
    trace(batch_id, [batch_id], {}, {"id": batch_id, "delivery_info": {}})

    state = app.backend.get_task_meta(batch_id)
    assert state["status"] != "FAILURE", state
