"""Project batches behind the same five calls as the demo's: refresh, settle, children, cancel,
retry (:class:`~pooldesk.backend.batches.demo_batches.DemoBatches`).

Pooldesk itself follows a project batch (``project_batch``), so a refresh *is* its settle; its
errors reach people as :class:`BatchError`, and a refresh that fails keeps the record as last
known with ``last_error`` saying why — as the demo's do when the result backend is down.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pooldesk.backend.batches.errors import BatchError
from pooldesk.backend.batches.history import BatchRecord, HistoryStore

if TYPE_CHECKING:
    from pooldesk.backend.batches.project_batch import ProjectBatches

T = TypeVar("T")


class ProjectFollower:
    def __init__(self, history: HistoryStore) -> None:
        self.history = history
        self._batches: ProjectBatches | None = None
        self.last_error: str | None = None

    @property
    def batches(self) -> ProjectBatches:
        """Made on first use: a panel with no project batch never imports their machinery."""
        if self._batches is None:
            from pooldesk.backend.batches.project_batch import ProjectBatches

            self._batches = ProjectBatches(history=self.history)
        return self._batches

    def close(self) -> None:
        if self._batches is not None:
            self._batches.close()
            self._batches = None

    def refresh(self, record: BatchRecord) -> BatchRecord:
        return self._call(lambda: self.batches.refresh(record), keep=record)

    def settle(self, record: BatchRecord) -> BatchRecord:
        return record if record.final else self.refresh(record)

    def children(self, record: BatchRecord, limit: int | None = None) -> list[dict[str, Any]]:
        return list(self.batches.children(record, limit))

    def cancel(self, record: BatchRecord, terminate: bool = False) -> dict[str, Any]:
        return dict(self._call(lambda: self.batches.cancel(record, terminate)))

    def retry(self, record: BatchRecord) -> BatchRecord:
        return self._call(lambda: self.batches.retry(record))

    def _call(self, call: Callable[[], T], keep: BatchRecord | None = None) -> T:
        """A project batch's error as a BatchError; with ``keep``, the record as last known."""
        from pooldesk.backend.batches.project_batch import ProjectBatchError

        try:
            result = call()
        except ProjectBatchError as exc:
            if keep is None:
                raise BatchError(str(exc)) from None
            self.last_error = str(exc)
            return keep  # type: ignore[return-value]  # T is BatchRecord whenever keep is given
        self.last_error = None
        return result
