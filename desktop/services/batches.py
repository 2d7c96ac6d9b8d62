"""The batch service: the only place that polls batches (a :class:`ServiceThread`).

It owns a :class:`~pooldesk.backend.batches.service.BatchService`, created in that thread and used
only there. Every second it refreshes the batches that are still queued or running (one read of the
result backend each) and, every few seconds or after a change, the whole list from the history
store, so batches launched from the CLI show up too. Its ``batchesChanged`` feeds the Batches
page, the Overview and the telemetry service's advisor (which used to poll a second
``BatchService`` of its own every 3 s, both writing ``history.db``).

Records sent to the window are lean copies: the summary without its per-child list (which holds
every customer id of every chunk); the selected batch's children go out separately, trimmed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QTimer, Signal, Slot

from pooldesk.backend.batches.history import BatchRecord
from pooldesk.backend.batches.params import InvoiceParams, MonitorParams, ParamError
from pooldesk.backend.batches.service import BatchError, BatchService
from pooldesk.backend.broker import BrokerError
from pooldesk.backend.settings import Settings
from pooldesk.backend.units import plural
from pooldesk.desktop.models.children_model import ORDER, child_row, child_state
from pooldesk.desktop.services.base import ServiceThread, describe

log = logging.getLogger(__name__)

REFRESH_MS = 1000
LIST_EVERY_S = 5.0  # the whole list (new batches from the CLI) at most this often
BACKOFF_MS = 5000  # after a failed refresh: the broker may be down, don't hammer it
LIST_LIMIT = 200
MAX_FAILED_LISTED = 50
MAX_CHILD_ROWS = 2000  # rows the window shows: what needs a look first (see shown_children)
CHILDREN_PER_S = 2000  # a running batch's rows are re-read every total/this seconds …
CHILDREN_EVERY_MAX_S = 30.0  # … at most this long apart
PANEL_BACKEND = {
    "result_backend_max_retries": 2,
    "redis_socket_connect_timeout": 3,
    "redis_socket_timeout": 10,
}
EXPECTED_ERRORS = (BatchError, ParamError, BrokerError, ValueError, OSError)


class BatchController(ServiceThread):
    """The only batch poller: the Batches page, the Overview and the advisor (through
    ``batchesChanged``) all see what it read."""

    batchesChanged = Signal(list)  # list[BatchRecord], newest first, lean
    childrenChanged = Signal(str, list)  # batch id, list[dict]
    batchFinished = Signal(object)  # BatchRecord that just turned final (for a tray icon later)
    batchLaunched = Signal(str)  # batch id
    customersCounted = Signal(int)  # customers in the invoice database; -1 when unknown
    problemChanged = Signal(str)  # why the list may be stale; "" when all is well
    projectsListed = Signal(list)  # [{"name", "tasks": [{"name", "queue"}]}] for Launch batch…
    projectPlanned = Signal(dict)  # project_request.plan_answer, for the dialog

    expected_errors = EXPECTED_ERRORS

    def __init__(self, settings: Settings, interval_ms: int = REFRESH_MS) -> None:
        super().__init__("pooldesk-batches", settings)
        self._interval_ms = interval_ms
        self._service: BatchService | None = None
        self._refresh_timer: QTimer | None = None
        self._records: list[BatchRecord] = []
        self._was_final: dict[str, bool] = {}
        self._selected = ""
        self._children_key: tuple[Any, ...] | None = None
        self._children_at = 0.0
        self._tuned = False  # PANEL_BACKEND applied to the service's Celery app
        self._sent: list[Any] = []  # what the last batchesChanged said, to send only changes
        self._next_list = 0.0
        self._problem = ""

    # -- in the service thread ---------------------------------------------------------------
    def _on_start(self) -> None:
        self._refresh_timer = self._timer(self.refresh)
        try:
            self._service = BatchService()  # the broker is reached lazily, on first need
            # a history set aside is announced once, by the tasks service (backend/setaside.py)
        except Exception as exc:
            log.exception("opening the batch history failed")
            self.operationFinished.emit("history", "", False, f"Batch history unavailable: {exc}")
        self.countCustomers()
        self.refresh()

    def _on_close(self) -> None:
        if self._service is not None:
            self._service.close()

    @Slot()
    def refresh(self) -> None:
        if self._service is None or self._closing:
            return
        service, delay = self._service, self._interval_ms
        try:
            if time.monotonic() >= self._next_list:
                self._next_list = time.monotonic() + LIST_EVERY_S
                self._records = service.history.list(LIST_LIMIT)  # shown even if the broker is down
            active = [r for r in self._records if not r.final]
            if active:
                self._bounded(service)
            for record in active:
                service.refresh(record)  # in place, written through to the history
            self._set_problem("")
        except Exception as exc:
            log.info("batch refresh failed: %s", exc)
            self._set_problem(self._masked(f"Showing the last known state. {describe(exc)}"))
            delay = max(delay, BACKOFF_MS)
        self._announce_finished()
        key = [
            (r.id, r.state, r.started_at, r.finished_at, sorted(r.counts.items()))
            for r in self._records
        ]
        if key != self._sent:  # unchanged lists are not sent again: the page ticks the clocks
            self._sent = key
            self.batchesChanged.emit([_lean(r) for r in self._records])
        self._send_children()
        if self._refresh_timer is not None and not self._closing:
            self._refresh_timer.start(delay)

    @Slot(str)
    def selectBatch(self, batch_id: str) -> None:
        """Send the children of this batch now, and again whenever they change."""
        self._selected, self._children_key = batch_id, None
        if batch_id and not self._closing:
            self._send_children()

    @Slot(object)
    def launchInvoices(self, params: InvoiceParams) -> None:
        def op() -> str:
            record = self._service_or_raise().launch_invoices(params)
            self._launched(record)
            who = (
                "all customers"
                if params.customers is None
                else plural(params.customers, "customer")
            )
            return (
                f"Invoice batch {record.id[:8]} launched: {params.period}, {who}, "
                f"chunks of {params.chunk_size:,} on {params.queue}."
            )

        self._run("launch", "", "Launching an invoice batch…", op)

    @Slot(object)
    def launchMonitoring(self, params: MonitorParams) -> None:
        def op() -> str:
            record = self._service_or_raise().launch_monitoring(params)
            self._launched(record)
            n = len(params.urls)
            return f"Monitoring batch {record.id[:8]} launched: {n:,} URL{'s' if n != 1 else ''}."

        self._run("launch", "", "Launching a monitoring batch…", op)

    @Slot()
    def listProjects(self) -> None:
        from pooldesk.backend.batches.project_request import catalog

        try:
            self.projectsListed.emit(catalog())
        except Exception as exc:
            log.info("listing projects failed: %s", exc)
            self.projectsListed.emit([])

    @Slot(object)
    def planProject(self, request: Any) -> None:
        """The Launch batch dialog's plan and forecast, as the person types (off the GUI)."""
        from pooldesk.backend.batches.project_request import plan_answer

        try:
            answer = plan_answer(request)
        except Exception as exc:  # a broker that hangs up mid-call, an unreadable check
            answer = {"token": request.token, "ok": False, "field": "project", "error": str(exc)}
        answer.pop("_plan", None)
        self.projectPlanned.emit(answer)

    @Slot(object)
    def launchProject(self, request: Any) -> None:
        from pooldesk.backend.batches.project_request import plan_answer

        def op() -> str:
            answer = plan_answer(request)
            if not answer["ok"]:
                raise BatchError(str(answer["error"]))
            plan = answer["_plan"]

            def listed_at_once(record: BatchRecord) -> None:
                """The id and row before the sending (100,000 calls take a while)."""
                self._launched(record)
                self.batchesChanged.emit([_lean(r) for r in self._records])

            record = self._service_or_raise().projects.launch(plan, on_record=listed_at_once)
            if record.error:
                raise BatchError(record.error)
            return (
                f"Batch {record.id[:8]} launched: {plan.target.task}, {plan.children:,} "
                f"children on {plan.target.queue}."
            )

        self._run("launch", "", f"Launching a batch of {request.task}…", op)

    @Slot(str, bool)
    def cancel(self, batch_id: str, terminate: bool) -> None:
        def op() -> str:
            counts = self._service_or_raise().cancel(batch_id, terminate=terminate)
            running = "stopped" if terminate else "left to finish"
            return (
                f"Cancel sent to batch {batch_id[:8]}: {counts['pending']:,} pending children "
                f"revoked, {counts['running']:,} running {running}."
            )

        self._run("cancel", batch_id, f"Cancelling batch {batch_id[:8]}…", op)

    @Slot(str)
    def retry(self, batch_id: str) -> None:
        def op() -> str:
            record = self._service_or_raise().retry(batch_id)
            self._was_final[record.id] = False
            return f"Retrying the failed children of batch {batch_id[:8]}."

        self._run("retry", batch_id, f"Retrying batch {batch_id[:8]}…", op)

    @Slot(int)
    def seedDemo(self, customers: int) -> None:
        def op() -> str:
            from pooldesk.backend.invoices.db import make_engine
            from pooldesk.backend.invoices.seed import seed

            try:
                result = seed(make_engine(self.settings.invoice_db or None), customers)
            finally:
                self.countCustomers()
            return (
                f"{result.customers_created:,} demo customers added "
                f"({result.customers_total:,} in all), usage for {', '.join(result.periods)}."
            )

        self._run("seed", "", f"Seeding {customers:,} demo customers…", op)

    @Slot()
    def countCustomers(self) -> None:
        try:
            self.customersCounted.emit(_count_customers(self.settings.invoice_db or None))
        except Exception as exc:
            log.info("counting customers failed: %s", exc)
            self.customersCounted.emit(-1)

    # -- helpers -----------------------------------------------------------------------------
    def _after_operation(self) -> None:
        self._next_list = 0.0  # show the change at once
        self._children_key = None
        self.refresh()

    def _service_or_raise(self) -> BatchService:
        if self._service is None:
            raise BatchError("the batch history is not available")
        return self._bounded(self._service)

    def _bounded(self, service: BatchService) -> BatchService:
        """Give up on an unreachable result backend after a few seconds instead of never.

        The shared Celery config retries result-backend reads forever (right for workers);
        the panel must answer, and must be able to close. Set before the backend is made.
        """
        if not self._tuned:
            service.app.conf.update(PANEL_BACKEND)  # may raise: the broker cannot be started
            self._tuned = True
        return service

    def _launched(self, record: BatchRecord) -> None:
        self._was_final[record.id] = False
        self._records.insert(0, record)
        self.batchLaunched.emit(record.id)

    def _announce_finished(self) -> None:
        for record in self._records:
            was = self._was_final.get(record.id)
            self._was_final[record.id] = record.final
            if was is False and record.final:
                self.batchFinished.emit(_lean(record))

    def _send_children(self) -> None:
        record = next((r for r in self._records if r.id == self._selected), None)
        if record is None or self._service is None:
            return
        key = (record.id, record.state, tuple(sorted((record.counts or {}).items())))
        if key == self._children_key or not self._children_due(record, key):
            return
        try:
            children = self._bounded(self._service).children(record, limit=MAX_CHILD_ROWS)
        except Exception as exc:
            log.info("reading children of %s failed: %s", record.id, exc)
            return  # the next refresh tries again (the key was not stored)
        self._children_key, self._children_at = key, time.monotonic()
        rows = shown_children([child_row(record.kind, c) for c in children])
        self.childrenChanged.emit(record.id, rows)

    def _children_due(self, record: BatchRecord, key: tuple[Any, ...]) -> bool:
        """A running batch's rows are read O(children): big ones less often (a 100,000-URL
        batch every 30 s). A new selection, a final state or a request reads them at once."""
        if self._children_key is None or record.final or key[0] != self._children_key[0]:
            return True
        total = int((record.counts or {}).get("total", 0))
        every = min(CHILDREN_EVERY_MAX_S, max(1.0, total / CHILDREN_PER_S))
        return time.monotonic() - self._children_at >= every

    def _set_problem(self, text: str) -> None:
        if text != self._problem:
            self._problem = text
            self.problemChanged.emit(text)


def _lean(record: BatchRecord) -> BatchRecord:
    """A copy for the window: no per-child list, at most a few dozen failures."""
    if not record.summary:
        return replace(record, counts=dict(record.counts or {}))
    summary = {k: v for k, v in record.summary.items() if k != "children"}
    failed = list(summary.get("failed_children") or [])
    summary["failed_children"] = failed[:MAX_FAILED_LISTED]
    summary["failed_children_total"] = len(failed)
    return replace(record, counts=dict(record.counts or {}), summary=summary)


def _count_customers(url: str | None) -> int:
    from sqlalchemy import func, inspect, select

    from pooldesk.backend.invoices.db import Customer, make_engine

    engine = make_engine(url)
    if not inspect(engine).has_table(Customer.__tablename__):
        return 0
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Customer)) or 0)


def shown_children(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """At most :data:`MAX_CHILD_ROWS` rows, failures, running and pending ones first: a
    100,000-URL batch must not become 100,000 table rows in the window."""
    if len(rows) <= MAX_CHILD_ROWS:
        return rows
    rows = sorted(rows, key=lambda r: (ORDER.get(child_state(r), 9), r.get("index", 0)))
    return rows[:MAX_CHILD_ROWS]
