"""Redis failing while a batch's parent writes its plan: nothing lost, nothing doubled, no error.

The plan used to be written in steps (children a thousand at a time, ``counts``, ``meta``, the
watcher generation, the lease); Redis failing between two of them stored FAILURE under the
batch id, and the panel showed the batch "error" — though the launch's lease later sent the
parent again. Now the plan is one script (``batches/plan_write.py``) and the parent ends
quietly when Redis fails under it.

The end-to-end tests play the worker that took the parent: the parent runs through Celery's own
tracer here (as ``test_batch_plan_publish.py`` does), and the managed broker is **really
stopped** at the moment named — just before the plan's write reaches Redis, or just after it
was applied (its reply lost: redis-py sends it again to a server that is gone). A real Pooldesk
worker, started once Redis is back, must then finish the batch from what Redis kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Task
from celery.app.trace import build_tracer

from pooldesk.backend.batches import watchdog
from pooldesk.backend.batches.children import fetch_states
from pooldesk.backend.batches.ledger import DUE_KEY, Ledger
from pooldesk.backend.batches.params import InvoiceParams
from pooldesk.backend.batches.plan import invoice_children
from pooldesk.backend.batches.service import BatchService
from pooldesk.backend.broker.managed import ManagedBroker
from pooldesk.backend.broker.resolve import BrokerConfig
from pooldesk.backend.celery_app import make_app
from pooldesk.backend.invoices import db
from pooldesk.backend.invoices.db import make_engine
from pooldesk.backend.invoices.seed import seed
from pooldesk.backend.tasks import batches
from pooldesk.backend.workers.spec import WorkerSpec
from tests.integration.test_faults import PERIOD, finish, invoices

CUSTOMERS, CHUNK = 120, 12  # ten children
DOWN_S = 3.0  # how long Redis stays away: longer than redis-py's own tries (none by default)
RECOVERY_S = 120
# The panel's send waits for its result subscription (20 tries, 1 s apart) before publishing:
# a shorter outage only delays the launch.
LAUNCH_DOWN_S = 30.0


def test_the_plan_is_written_whole_and_once(broker: BrokerConfig) -> None:
    ledger = Ledger(make_app(broker.broker_url, broker.result_backend, include=[]))
    children = invoice_children("whole", list(range(2_500)), 1, PERIOD)  # past one Lua step
    meta = {"id": "whole", "kind": "invoices", "queue": "invoices", "gen": 0}
    ledger.client.set(ledger.key("whole", "gen"), 7)  # claimed while the parent was queued
    assert ledger.write_plan("whole", children, 2_500, meta=meta, token="a", lease=30.0)
    # redis-py sending the same script again after a reply lost in a restart: still "yours".
    assert ledger.write_plan("whole", children, 2_500, meta=meta, token="a", lease=30.0)
    # A second copy of the parent: it writes nothing and is told so.
    other = invoice_children("whole", [1], 1, PERIOD)
    assert not ledger.write_plan("whole", other, 1, meta={"id": "x"}, token="b", lease=30.0)
    snap = ledger.snapshot("whole")
    assert snap is not None and snap.items == 2_500 and snap.open_children == 2_500
    assert ledger.children("whole") == children and ledger.meta("whole") == meta
    assert ledger.client.get(ledger.key("whole", "gen")) is None  # generation 0 again
    due = ledger.due_in("whole")
    assert due is not None and 25 < due <= 30  # leased by Redis's own clock
    assert ledger.client.ttl(ledger.key("whole", "planner")) > 0  # expires with the plan


@pytest.fixture
def service(manager: Any) -> Iterator[BatchService]:
    seed(make_engine(), CUSTOMERS, periods=[PERIOD])
    svc = BatchService(manager.config)
    yield svc
    svc.close()
    db.dispose_engines()


def _take_parent(service: BatchService) -> None:
    """This test is the worker that took the parent's message: nobody else runs it."""
    with service.app.connection_for_write() as conn:
        assert conn.default_channel.queue_purge(batches.ORCHESTRATION) == 1


def _restart(broker: ManagedBroker, back: threading.Event, down: float = DOWN_S) -> None:
    """Stop the managed redis-server now; start it again (same port and password) later."""
    assert broker.stop()

    def start() -> None:
        time.sleep(down)
        broker.start()
        back.set()

    threading.Thread(target=start, daemon=True).start()


def _ran_once(service: BatchService, batch_id: str, children: int) -> None:
    """Every child succeeded under exactly one of its ids (the original or a resend)."""
    for index in range(children):
        ids = [f"{batch_id}.{index}", *(f"{batch_id}.{index}.r{n}" for n in range(1, 8))]
        states = fetch_states(service.app, ids)
        assert [s.state for s in states.values()].count("SUCCESS") == 1, (index, states)


@pytest.mark.slow
@pytest.mark.parametrize("when", ["before", "after"])
def test_redis_failing_in_the_plan_write_loses_and_doubles_nothing(
    manager: Any, service: BatchService, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    record = service.launch_invoices(
        InvoiceParams(period=PERIOD, customers=CUSTOMERS, chunk_size=CHUNK)
    )
    params = service.ledger.meta(record.id)["params"]  # type: ignore[index]
    _take_parent(service)
    broker, back = ManagedBroker(), threading.Event()
    write_plan = Ledger.write_plan

    def failing(self: Ledger, *args: Any, **kwargs: Any) -> Any:
        if when == "after":
            write_plan(self, *args, **kwargs)  # applied; Redis dies before the reply comes
        _restart(broker, back)
        return write_plan(self, *args, **kwargs)  # a real ConnectionError: nothing listens

    monkeypatch.setattr(Ledger, "write_plan", failing)
    app = make_app(manager.config.broker_url, manager.config.result_backend, include=[])

    @app.task(bind=True, name="test.plan.invoices")
    def plan(self: Task, batch_id: str, params: dict[str, Any]) -> Any:
        return batches.plan_invoices.run.__func__(self, batch_id, params)

    trace = build_tracer(plan.name, plan, app=app, eager=False)
    trace(record.id, [record.id, params], {}, {"id": record.id, "delivery_info": {}})
    assert back.wait(30)
    state = app.backend.get_task_meta(record.id)
    assert state["status"] != "FAILURE", state  # FAILURE: the panel marks the batch "error"
    planned = service.ledger.exists(record.id)
    assert planned == (when == "after")  # all of the plan or none of it
    assert service.ledger.client.zscore(DUE_KEY, record.id) is not None  # still leased
    if planned:
        assert service.ledger.meta(record.id)["queue"] == "invoices"  # type: ignore[index]

    # A real worker (it carries the watchdog): the lease sends the parent again (none written)
    # or re-arms the batch, whose children nobody sent, and sends them as orphans (all).
    manager.start(WorkerSpec("inv", "prefork", 2, ("invoices", "orchestration")))
    seen = [shown.state for shown in service.wait(record.id, poll=0.3, timeout=RECOVERY_S)]
    done = finish(service, record.id, timeout=5)
    assert "error" not in seen, (seen, done.error)
    assert done.state == "completed", (done.error, done.summary)
    assert done.counts["succeeded"] == CUSTOMERS // CHUNK
    assert invoices() == (CUSTOMERS, CUSTOMERS)  # none lost, none doubled
    _ran_once(service, record.id, CUSTOMERS // CHUNK)
    assert service.ledger.due_in(record.id) is None  # closed: nothing left to re-arm


def test_a_parent_that_failed_for_real_is_not_sent_again(broker: BrokerConfig) -> None:
    """The lease re-sends a parent Redis failed under (it stored nothing); one that stored
    FAILURE (a bug, the database after its retries) is shown failed and left alone."""
    app = make_app(broker.broker_url, broker.result_backend, include=[])
    ledger = Ledger(app)
    ledger.write_meta({"id": "failed", "kind": "invoices", "params": {}, "planning": True})
    ledger.arm("failed", 0, watchdog.LEASE_S)
    app.backend.mark_as_failure("failed", RuntimeError("no such table: customers"))
    claimed = ledger.claim(watchdog.LEASE_S, "one", "failed", force=True)
    assert watchdog.rearm(app, ledger, claimed) == []
    assert ledger.due_in("failed") is None


@pytest.mark.slow
def test_redis_failing_as_the_launch_sends_the_parent_still_runs_the_batch_once(
    manager: Any, service: BatchService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The launch leased the batch, then its parent's publish failed (the broker stopped):
    raising would hide a batch the lease runs anyway. It is recorded, and run once."""
    broker, back = ManagedBroker(), threading.Event()
    arm = Ledger.arm

    def arm_then_fail(self: Ledger, *args: Any, **kwargs: Any) -> Any:
        armed = arm(self, *args, **kwargs)
        _restart(broker, back, LAUNCH_DOWN_S)  # the parent's publish meets a stopped server
        return armed

    monkeypatch.setattr(Ledger, "arm", arm_then_fail)
    record = service.launch_invoices(
        InvoiceParams(period=PERIOD, customers=CUSTOMERS, chunk_size=CHUNK)
    )
    monkeypatch.setattr(Ledger, "arm", arm)
    assert back.wait(30) and record.state == "queued"
    assert service.history.find(record.id)  # listed: the id the person was given exists
    with service.app.connection_for_write() as conn:  # the parent was never published
        assert conn.default_channel.queue_purge(batches.ORCHESTRATION) == 0
    manager.start(WorkerSpec("inv", "prefork", 2, ("invoices", "orchestration")))
    done = finish(service, record.id, timeout=RECOVERY_S)
    assert done.state == "completed", (done.error, done.summary)
    assert invoices() == (CUSTOMERS, CUSTOMERS)
    _ran_once(service, record.id, CUSTOMERS // CHUNK)
