"""Launch, follow, cancel and retry batches from the panel (window or CLI).

One front for every kind of batch: the demo's (``demo_batches``: followed by a watcher task in
the workers) and a user's own (``project_follower``: followed by Pooldesk itself). Each answers
refresh, settle, children, cancel and retry; this service finds a record and hands it to its
kind's follower, so nothing here asks what kind a batch is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from celery import Celery

from pooldesk.backend.batches.demo_batches import ORCHESTRATION, DemoBatches
from pooldesk.backend.batches.errors import BatchError
from pooldesk.backend.batches.history import BatchRecord, HistoryStore
from pooldesk.backend.batches.ledger import Ledger
from pooldesk.backend.batches.params import InvoiceParams, MonitorParams
from pooldesk.backend.batches.project_follower import ProjectFollower
from pooldesk.backend.broker.resolve import BrokerConfig

if TYPE_CHECKING:
    from pooldesk.backend.batches.project_batch import ProjectBatches

__all__ = ["ORCHESTRATION", "BatchError", "BatchService"]


class Follower(Protocol):
    """What a kind of batch answers (``DemoBatches``, ``ProjectFollower``)."""

    last_error: str | None

    def refresh(self, record: BatchRecord) -> BatchRecord: ...

    def settle(self, record: BatchRecord) -> BatchRecord: ...

    def children(self, record: BatchRecord, limit: int | None = None) -> list[dict[str, Any]]: ...

    def cancel(self, record: BatchRecord, terminate: bool = False) -> dict[str, Any]: ...

    def retry(self, record: BatchRecord) -> BatchRecord: ...


class BatchService:
    def __init__(
        self, config: BrokerConfig | None = None, history: HistoryStore | None = None
    ) -> None:
        self.history = history or HistoryStore()
        self.demo = DemoBatches(config, self.history)
        self.project = ProjectFollower(self.history)
        self._last: Follower = self.demo

    @property
    def app(self) -> Celery:
        return self.demo.app

    @property
    def ledger(self) -> Ledger:
        return self.demo.ledger

    @property
    def projects(self) -> ProjectBatches:
        """Project batches' own calls (launch, plan): Pooldesk sends and follows the children."""
        return self.project.batches

    @property
    def last_error(self) -> str | None:
        """Why the last refresh kept a record's old state (the result backend unreachable)."""
        return self._last.last_error

    def close(self) -> None:
        self.project.close()
        self.demo.close()

    def _follower(self, record: BatchRecord) -> Follower:
        self._last = self.project if record.kind == "project" else self.demo
        return self._last

    # -- launching ---------------------------------------------------------------------------
    def launch_invoices(self, params: InvoiceParams) -> BatchRecord:
        return self.demo.launch("invoices", params.validate().to_dict())

    def launch_monitoring(self, params: MonitorParams) -> BatchRecord:
        return self.demo.launch("monitoring", params.validate().to_dict())

    # -- following ---------------------------------------------------------------------------
    def get(self, batch_id: str, refresh: bool = True) -> BatchRecord:
        matches = self.history.find(batch_id) if len(batch_id) >= 4 else []
        if not matches:
            raise BatchError(f"no batch {batch_id!r} (see 'pooldesk batch list')")
        if len(matches) > 1 and matches[0].id != batch_id:
            raise BatchError(f"{batch_id!r} matches several batches; give more characters")
        record = matches[0]
        return self.refresh(record) if refresh and not record.final else record

    def refresh(self, record: BatchRecord) -> BatchRecord:
        """Bring one record up to date and write it through. With the result backend
        unreachable the record is returned as last known (``last_error`` says why), so a list
        or a window never fails because Redis restarts."""
        return self._follower(record).refresh(record)

    def settle(self, record: BatchRecord) -> BatchRecord:
        """Before status, cancel or retry: every child that has ended is counted and a batch
        with none open is closed now, so counts never contradict the children's rows."""
        return record if record.final else self._follower(record).settle(record)

    def children(self, record: BatchRecord, limit: int | None = None) -> list[dict[str, Any]]:
        """Per-child rows (per URL for monitoring). O(children): only when someone opens a
        batch; ``limit`` bounds what a running batch's read costs."""
        return self._follower(record).children(record, limit)

    def list(self, limit: int = 200) -> list[BatchRecord]:
        """Newest first; batches still running are refreshed on the way."""
        records = self.history.list(limit)
        return [self.refresh(r) if not r.final else r for r in records]

    def wait(
        self,
        batch_id: str,
        poll: float = 0.5,
        timeout: float | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> Iterator[BatchRecord]:
        """Yields the record on every change until it is final, the timeout passes or
        ``stop()`` says so (checked on every poll)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        record = self.get(batch_id)
        last: tuple[Any, ...] | None = None
        while True:
            key = (record.state, tuple(sorted(record.counts.items())))
            if key != last:
                last = key
                yield record
            if record.final or (deadline is not None and time.monotonic() > deadline):
                return
            if stop is not None and stop():
                return
            time.sleep(poll)
            record = self.refresh(record)

    # -- control -----------------------------------------------------------------------------
    def cancel(self, batch_id: str, terminate: bool = False) -> dict[str, Any]:
        """Revoke the children that have not ended; running ones finish unless ``terminate``.
        A batch whose children had all ended (its watcher lost) is closed instead: ``ended``."""
        record = self.get(batch_id)
        return self._follower(record).cancel(record, terminate)

    def retry(self, batch_id: str) -> BatchRecord:
        """Run only the failed (or cancelled) children of a finished batch again."""
        record = self.get(batch_id)
        return self._follower(record).retry(record)
