"""Redis failing in the middle of a demo batch's cancel or retry: nothing lost, a clear message.

Both used to write in several steps and let redis-py's error through (the CLI and the window
showed ``ConnectionError: Error 111 …``). A retry left prefixes nothing finished (counts reset
with no child reopened; children reopened that no one sent; the old SUCCESS kept, so the new
round's summary was never stored); it is now one script (``batches/retry_write.py``) and, once
written, leased. A cancel's prefixes were each finished by a second cancel (or the watcher's
scan), but the person was not told to give one.

As in ``test_batch_plan_write.py``, the managed redis-server is **really stopped** at the step
named, the test plays the worker that took the parent (so the batch's children wait in their
queue), and a real Pooldesk worker finishes the batch once Redis is back.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Task
from celery.app.trace import build_tracer

from pooldesk.backend.batches.children import fetch_states
from pooldesk.backend.batches.errors import BatchError
from pooldesk.backend.batches.history import BatchRecord
from pooldesk.backend.batches.ledger import DUE_KEY, Ledger, Outcome
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
from tests.integration.test_batch_plan_write import _restart, _take_parent
from tests.integration.test_faults import PERIOD, finish, invoices

CUSTOMERS, CHUNK = 60, 12  # five children
CHILDREN = CUSTOMERS // CHUNK
RECOVERY_S = 120


@pytest.fixture
def service(manager: Any) -> Iterator[BatchService]:
    seed(make_engine(), CUSTOMERS, periods=[PERIOD])
    svc = BatchService(manager.config)
    yield svc
    svc.close()
    db.dispose_engines()


def _planned(manager: Any, service: BatchService) -> BatchRecord:
    """A launched batch whose parent this test ran: five children wait in ``invoices``. The
    tasks' own app (``batches.app``) is configured from a worker's environment, absent here:
    its publishes go through the test's app, to the managed broker."""
    record = service.launch_invoices(
        InvoiceParams(period=PERIOD, customers=CUSTOMERS, chunk_size=CHUNK)
    )
    params = service.ledger.meta(record.id)["params"]  # type: ignore[index]
    _take_parent(service)
    app = make_app(manager.config.broker_url, manager.config.result_backend, include=[])

    @app.task(bind=True, name="test.plan.invoices")
    def plan(self: Task, batch_id: str, params: dict[str, Any]) -> Any:
        return batches.plan_invoices.run.__func__(self, batch_id, params)

    trace = build_tracer(plan.name, plan, app=app, eager=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(batches.app, "send_task", app.send_task)
        trace(record.id, [record.id, params], {}, {"id": record.id, "delivery_info": {}})
    assert service.ledger.snapshot(record.id).open_children == CHILDREN  # type: ignore[union-attr]
    return service.get(record.id)


def _cancelled(manager: Any, service: BatchService) -> BatchRecord:
    """The batch cancelled before any child ran: a finished batch with five children to retry.
    No worker ran, so none heard the revokes: their messages are purged, as a worker would have
    discarded them."""
    record = _planned(manager, service)
    assert service.cancel(record.id)["pending"] == CHILDREN
    with service.app.connection_for_write() as conn:
        assert conn.default_channel.queue_purge("invoices") == CHILDREN
    done = service.get(record.id)
    assert done.state == "cancelled", (done.state, done.counts)
    return done


def _worker_finishes(manager: Any, service: BatchService, batch_id: str) -> BatchRecord:
    manager.start(WorkerSpec("inv", "prefork", 2, ("invoices", "orchestration")))
    seen = [shown.state for shown in service.wait(batch_id, poll=0.3, timeout=RECOVERY_S)]
    done = finish(service, batch_id, timeout=5)
    assert "error" not in seen, (seen, done.error)
    return done


def test_the_retry_is_written_whole_and_once(broker: BrokerConfig) -> None:
    app = make_app(broker.broker_url, broker.result_backend, include=[])
    ledger, key = Ledger(app), app.backend.get_key_for_task("r")
    children = invoice_children("r", [1, 2, 3], 1, PERIOD)
    ledger.write_plan("r", children, 3, meta={"id": "r"}, token="a", lease=30.0)
    for child, state in zip(children, ("succeeded", "failed", "cancelled"), strict=True):
        outcome = Outcome(
            **{state: 1}, failures=[{"index": child["index"]}] * (state != "cancelled")
        )
        ledger.ended("r", child["index"], child["id"], outcome)
    app.backend.store_result("r", {"outcome": "completed_with_failures"}, "SUCCESS")
    again = [{**c, "id": f"{c['id']}.t1"} for c in children[1:]]
    meta = {"id": "r", "retry_round": 1}
    args: dict[str, Any] = {"round_": 1, "succeeded": 1, "result_key": key, "lease": 30.0}

    assert ledger.begin_retry("r", again, meta=meta, **args) == (1, 1)
    snap = ledger.snapshot("r")
    assert snap is not None and snap.open_children == 2 and snap.counts["succeeded"] == 1
    assert snap.counts["failed"] == snap.counts["cancelled"] == 0 and ledger.failures("r") == []
    assert ledger.children("r") == [children[0], *again] and ledger.meta("r") == meta
    assert app.backend.get_task_meta("r")["status"] == "PENDING"  # the old SUCCESS forgotten
    due = ledger.due_in("r")
    assert due is not None and 25 < due <= 30
    # The same round again (a reply lost, another window): found begun, nothing written.
    other = [{**c, "id": "x", "index": 9} for c in again]
    assert ledger.begin_retry("r", other, meta={"id": "r", "retry_round": 1}, **args) == (0, 1)
    assert ledger.children("r") == [children[0], *again] and ledger.meta("r") == meta
    assert ledger.begin_retry("gone", again, meta=meta, **args) == (-1, 0)  # expired


def test_redis_failing_mid_cancel_says_cancel_again_and_the_second_cancel_finishes(
    manager: Any, service: BatchService, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = _planned(manager, service)
    broker, back = ManagedBroker(), threading.Event()
    ended, counted = Ledger.ended, []

    def ended_then_stop(self: Ledger, *args: Any, **kwargs: Any) -> Any:
        left = ended(self, *args, **kwargs)
        counted.append(left)
        if len(counted) == 2:  # two children revoked and counted: Redis stops under the third
            _restart(broker, back)
        return left

    monkeypatch.setattr(Ledger, "ended", ended_then_stop)
    with pytest.raises(BatchError, match=r"while cancelling .*nothing was lost; cancel again"):
        service.cancel(record.id)
    monkeypatch.setattr(Ledger, "ended", ended)
    assert back.wait(30)
    assert service.get(record.id).state in ("queued", "running")  # not shown failed

    again = service.cancel(record.id)
    assert again["pending"] == CHILDREN - 2  # the rest: nothing revoked or counted twice
    done = service.get(record.id)
    assert done.state == "cancelled", (done.state, done.counts)
    assert done.counts["cancelled"] == CHILDREN and done.counts["pending"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("when", ["before", "after"])
def test_redis_failing_in_the_retry_write_loses_and_doubles_nothing(
    manager: Any, service: BatchService, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    record = _cancelled(manager, service)
    broker, back = ManagedBroker(), threading.Event()
    begin_retry = Ledger.begin_retry

    def failing(self: Ledger, *args: Any, **kwargs: Any) -> Any:
        if when == "after":
            begin_retry(self, *args, **kwargs)  # applied; Redis dies before the reply comes
        _restart(broker, back)
        return begin_retry(self, *args, **kwargs)  # a real ConnectionError: nothing listens

    monkeypatch.setattr(Ledger, "begin_retry", failing)
    with pytest.raises(BatchError, match=r"while retrying .*nothing was lost; retry again"):
        service.retry(record.id)
    monkeypatch.setattr(Ledger, "begin_retry", begin_retry)
    assert back.wait(30)
    shown = service.get(record.id)
    meta = service.ledger.meta(record.id) or {}
    assert meta.get("retry_round", 0) == (1 if when == "after" else 0)  # all of it or none
    if when == "before":
        assert shown.state == "cancelled" and shown.summary  # the finished batch, as it was
        retried = service.retry(record.id)  # the same retry again: begun now
        assert retried.state == "running"
    else:  # the history was reopened before the script: the round it began is shown running
        assert shown.state == "running" and shown.summary is None
        with pytest.raises(BatchError, match="has not finished"):  # not begun twice
            service.retry(record.id)
    with service.app.connection_for_write() as conn:  # sent now, or left to the lease
        waiting = conn.default_channel.client.llen("invoices")
    assert waiting == (CHILDREN if when == "before" else 0)
    assert service.ledger.due_in(record.id) is not None  # leased either way
    if when == "after":
        service.ledger.client.zadd(DUE_KEY, {record.id: 0})  # as if its 30 s had passed

    done = _worker_finishes(manager, service, record.id)
    assert done.state == "completed", (done.error, done.summary)
    assert (done.summary or {})["retry_round"] == 1
    assert invoices() == (CUSTOMERS, CUSTOMERS)  # none lost, none doubled
    for index in range(CHILDREN):  # each retried child ran under exactly one of its ids
        ids = [f"{record.id}.{index}.t1", *(f"{record.id}.{index}.t1.r{n}" for n in range(1, 8))]
        states = fetch_states(service.app, ids)
        assert [s.state for s in states.values()].count("SUCCESS") == 1, (index, states)
