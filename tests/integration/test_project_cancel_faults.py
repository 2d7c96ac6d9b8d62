"""The broker failing in the middle of a project batch's cancel: nothing lost, a plain message.

A project batch's cancel sets a flag, revokes the open children a slice at a time and marks each
slice. It used to revoke every slice, then mark them all, then refresh, and let the broker's
error through: kombu publishes a revoke with ``retry=True`` and no limit (a cancel with the
broker down hung until it came back), and the closing refresh said "result backend unreachable:
Error 111 …" for a cancel that had been done. Now the broker is reached first and refused at
once, the person reads "nothing was lost; cancel again", a second cancel finishes the job, and so
does the next refresh by itself (the flag is set).

The project's broker (and result backend) is the managed redis-server of the test's own home,
**really stopped** at the step named (``test_batch_plan_write._restart``) and started again
:data:`AWAY_S` later. No worker consumes the project's queue: the children wait there, so each
is open when the cancel comes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pooldesk.backend.batches import project_batch
from pooldesk.backend.batches.errors import BatchError
from pooldesk.backend.batches.history import BatchRecord
from pooldesk.backend.batches.items import parse_range
from pooldesk.backend.batches.project_plan import make_plan
from pooldesk.backend.batches.project_store import ChildStore
from pooldesk.backend.batches.service import BatchService
from pooldesk.backend.broker.managed import ManagedBroker
from pooldesk.backend.broker.resolve import BrokerConfig
from pooldesk.backend.celery_app import make_app
from pooldesk.backend.projects.check import run_check
from pooldesk.backend.projects.store import ProjectStore
from tests.integration.test_batch_plan_write import _restart
from tests.integration.test_project_batches import project, project_dir  # noqa: F401

CHILDREN = 5
QUEUE = "cancel-faults"  # nothing consumes it
AWAY_S = 6.0  # how long the broker stays stopped


@pytest.fixture
def service(broker: BrokerConfig, sample_python: Path, project_dir: Path) -> Iterator[BatchService]:  # noqa: F811
    """The project ``own`` on the home's managed broker, checked and registered."""
    env = {"LEDGERQ_BROKER": broker.broker_url, "LEDGERQ_QUEUE": QUEUE}
    spec = project("own", sample_python, project_dir, env)
    check = run_check(spec)
    assert check.ok, check.error
    store = ProjectStore()
    store.add(spec)
    store.save_check("own", check)
    svc = BatchService(broker)
    yield svc
    svc.close()


def _launched(service: BatchService) -> BatchRecord:
    plan = make_plan("own", "ledgerq.btasks.add", parse_range(f"1:{CHILDREN}"), queue=QUEUE)
    record = service.projects.launch(plan)
    assert record.state == "running" and record.counts["pending"] == CHILDREN, record
    return record


def _stop_after_marking(
    patch: pytest.MonkeyPatch, slices: int
) -> tuple[threading.Event, list[int]]:
    """Stop the broker once ``slices`` slices of revoked children are marked, for AWAY_S."""
    update, marked, back = ChildStore.update, [], threading.Event()

    def update_then_stop(self: ChildStore, batch_id: str, children: Any) -> None:
        children = list(children)
        update(self, batch_id, children)
        if children and all(c.state == "REVOKED" for c in children):
            marked.append(len(children))
            if len(marked) == slices:
                _restart(ManagedBroker(), back, down=AWAY_S)

    patch.setattr(ChildStore, "update", update_then_stop)
    return back, marked


def _states(service: BatchService, record: BatchRecord) -> list[str]:
    return [c["state"] for c in service.children(record)]


@pytest.mark.parametrize("finisher", ["a second cancel", "the next refresh"])
def test_the_broker_failing_between_revokes_says_cancel_again_and_it_is_finished(
    service: BatchService, finisher: str
) -> None:
    """Stopped once the first slice is revoked and marked, away for longer than the cancel
    waits (shortened to 1 s): the cancel says so at once, where it used to wait for the
    broker's return however long it took."""
    record = _launched(service)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(project_batch, "REVOKE_EVERY", 2, raising=False)  # slices: 2, 2, 1
        patch.setattr(project_batch, "REVOKE_WAIT_S", 1.0, raising=False)
        back, marked = _stop_after_marking(patch, slices=1)
        began = time.monotonic()
        with pytest.raises(BatchError, match=r"while cancelling .*nothing was lost; cancel again"):
            service.cancel(record.id)
        assert time.monotonic() - began < AWAY_S - 1  # told, not kept waiting
    assert marked == [2]
    assert back.wait(30)
    assert _states(service, record) == ["REVOKED"] * 2 + ["PENDING"] * 3

    if finisher == "a second cancel":  # given before any refresh (``service.cancel`` has one)
        again = service.projects.cancel(service.history.get(record.id))  # type: ignore[arg-type]
        assert again["pending"] == CHILDREN - 2  # the rest: nothing revoked or marked twice
    done = service.get(record.id)  # a status, a list, the window's poll
    assert done.state == "cancelled", (done.state, done.counts, done.error)
    assert done.counts["cancelled"] == CHILDREN and done.counts["pending"] == 0
    assert _states(service, done) == ["REVOKED"] * CHILDREN
    assert done.error is None and service.last_error is None
    assert service.cancel(record.id)["ended"]  # once more: done, and told so (not an error)


def test_the_result_backend_failing_under_the_closing_refresh_is_not_shown(
    service: BatchService, broker: BrokerConfig
) -> None:
    """One child running (its STARTED written to the project's result backend, as its worker
    would), the rest revoked and marked; then Redis, the project's broker and result backend,
    stops under the cancel's closing refresh. The cancel was done: it used to say "result
    backend unreachable: Error 111 …"; it now answers, and the next refresh closes the batch
    once the running child has ended."""
    record = _launched(service)
    backend = make_app(broker.broker_url, broker.broker_url, include=[]).backend
    running = f"{record.id}.0"
    backend.store_result(running, {"hostname": "w@elsewhere", "pid": 1}, "STARTED")
    assert service.get(record.id).counts["started"] == 1
    with pytest.MonkeyPatch.context() as patch:
        back, _ = _stop_after_marking(patch, slices=1)
        counts = service.cancel(record.id)
    assert counts == {"pending": CHILDREN - 1, "running": 1, "ended": False}
    assert back.wait(30)
    backend.store_result(running, 1, "SUCCESS")  # the running child finishes, as it may
    done = service.get(record.id)
    assert done.state == "cancelled", (done.state, done.counts, done.error)
    assert done.counts["cancelled"] == CHILDREN - 1 and done.counts["succeeded"] == 1
    assert done.error is None and service.last_error is None
