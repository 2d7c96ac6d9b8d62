"""A demo retry's history write failing: the history never shows an ended batch that runs.

The retry wrote its round's ledger (one script, ``batches/retry_write.py``), then the history
(rows dropped, the record set running). That write failing (a locked or full ``history.db``)
let SQLite's own error through *after* the round had begun: the round ran, leased, while the
history kept the old end — and nothing refreshes an ended record, so the panel showed the batch
as finished while it ran. The history is now reopened first, in one transaction: failing, it
begins nothing and says "retry again"; a later write failing is harmless.

The failure is real: another connection holds ``history.db``'s write lock (``BEGIN EXCLUSIVE``,
as in ``test_project_launch_db.py``), the store's busy wait shortened from 10 s to 0.2 s. The
batch is the demo's on the managed broker, cancelled before any child ran
(``test_batch_control_faults._cancelled``), and a real Pooldesk worker runs the round.
"""

from __future__ import annotations

from typing import Any

import pytest

from pooldesk.backend.batches.errors import BatchError
from pooldesk.backend.batches.history import HistoryStore
from pooldesk.backend.batches.ledger import Ledger
from pooldesk.backend.batches.service import BatchService
from tests.integration.test_batch_control_faults import (
    CHILDREN,
    CUSTOMERS,
    _cancelled,
    _worker_finishes,
    service,  # noqa: F401
)
from tests.integration.test_faults import invoices
from tests.integration.test_project_launch_db import _locked, _short_wait


def _round(svc: BatchService, batch_id: str) -> int:
    return int((svc.ledger.meta(batch_id) or {}).get("retry_round", 0))


def test_the_history_failing_before_the_round_begins_nothing(
    manager: Any,
    service: BatchService,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    record = _cancelled(manager, service)
    monkeypatch.setattr(HistoryStore, "_connect", _short_wait(HistoryStore._connect))
    with (
        _locked(service.history.path),
        pytest.raises(BatchError, match=r"batch history failed while retrying .*retry again"),
    ):
        service.retry(record.id)
    assert _round(service, record.id) == 0  # no round begun
    shown = service.get(record.id)
    assert shown.state == "cancelled" and shown.summary  # as it was, and true

    assert service.retry(record.id).state == "running"
    done = _worker_finishes(manager, service, record.id)
    assert done.state == "completed" and (done.summary or {})["retry_round"] == 1
    assert invoices() == (CUSTOMERS, CUSTOMERS)


def test_the_history_failing_after_the_round_begun_still_shows_it_running(
    manager: Any,
    service: BatchService,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The lock taken the moment the ledger's script has run: the history is written no more
    in this retry, and the round it began runs. The history shows it running, then finished."""
    record = _cancelled(manager, service)
    monkeypatch.setattr(HistoryStore, "_connect", _short_wait(HistoryStore._connect))
    begin_retry, lock = Ledger.begin_retry, _locked(service.history.path)

    def begin_then_lock(self: Ledger, *args: Any, **kwargs: Any) -> Any:
        begun = begin_retry(self, *args, **kwargs)
        lock.__enter__()
        return begun

    monkeypatch.setattr(Ledger, "begin_retry", begin_then_lock)
    try:
        service.retry(record.id)  # may say nothing: the round runs
    finally:
        lock.__exit__(None, None, None)
    monkeypatch.setattr(Ledger, "begin_retry", begin_retry)
    assert _round(service, record.id) == 1
    shown = service.get(record.id)
    assert shown.state == "running" and shown.summary is None, shown.state

    done = _worker_finishes(manager, service, record.id)
    assert done.state == "completed", (done.error, done.summary)
    assert (done.summary or {})["retry_round"] == 1
    rows = service.children(done)
    assert len(rows) == CHILDREN and all(r["state"] == "SUCCESS" for r in rows)
    assert invoices() == (CUSTOMERS, CUSTOMERS)
