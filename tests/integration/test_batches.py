"""Batches end to end: real broker, real prefork and gevent workers, real databases."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pooldesk.backend.batches.history import BatchRecord
from pooldesk.backend.batches.params import InvoiceParams, MonitorParams, ParamError
from pooldesk.backend.batches.rows import child_rows
from pooldesk.backend.batches.service import BatchError, BatchService
from pooldesk.backend.broker import ensure_broker
from pooldesk.backend.cli import main
from pooldesk.backend.invoices import db
from pooldesk.backend.invoices.db import Invoice, make_engine
from pooldesk.backend.invoices.seed import seed
from pooldesk.backend.monitoring.testserver import serve
from pooldesk.backend.workers.manager import WorkerManager
from pooldesk.backend.workers.spec import WorkerSpec
from tests.liveworkers import running_workers, start_online

# Monitoring checks with 1-2 s HTTP timeouts against a test server in this process: under a
# parallel run they timed out. Alone, after the parallel run (Makefile, test-noqt).
pytestmark = [pytest.mark.slow, pytest.mark.serial]
PERIODS = ["2026-07", "2026-08", "2026-09", "2026-10"]
FAULTY_CUSTOMER = 55  # a chunk holding this customer hits an injected database error


@pytest.fixture(scope="module")
def site() -> Iterator[dict[str, object]]:
    """One home for the module: broker, 60 seeded customers, an invoice and a gevent worker."""
    import tempfile

    with (
        tempfile.TemporaryDirectory() as tmp,
        running_workers(Path(tmp) / "home", stop_timeout=20) as run,
    ):
        seed(make_engine(), 60, periods=PERIODS)  # before the workers, as a user would
        fault = {"POOLDESK_FAULT_DB_CHUNK": str(FAULTY_CUSTOMER)}
        queues = ("invoices", "orchestration")
        start_online(run.manager, WorkerSpec("inv", "prefork", 2, queues, extra_env=fault))
        start_online(run.manager, WorkerSpec("mon", "gevent", 5, ("monitoring",)))
        service = BatchService(run.config)
        try:
            yield {"home": run.home, "service": service, "manager": run.manager}
        finally:
            service.close()
            db.dispose_engines()


def finish(service: BatchService, record: BatchRecord, timeout: float = 90) -> BatchRecord:
    for update in service.wait(record.id, poll=0.2, timeout=timeout):
        record = update
    assert record.final, f"batch still {record.state} after {timeout} s: {record.counts}"
    return record


def invoices_for(period: str) -> tuple[int, int]:
    with make_engine().connect() as conn:
        total = conn.scalar(
            select(func.count()).select_from(Invoice).where(Invoice.period == period)
        )
        distinct = conn.scalar(
            select(func.count(func.distinct(Invoice.customer_id))).where(Invoice.period == period)
        )
    return int(total or 0), int(distinct or 0)


def test_invoice_batch_bills_each_customer_once_with_a_pdf(site) -> None:  # type: ignore[no-untyped-def]
    service: BatchService = site["service"]
    record = finish(
        service,
        service.launch_invoices(InvoiceParams(period="2026-07", customers=40, chunk_size=7)),
    )
    assert record.state == "completed"
    summary = record.summary or {}
    assert summary["counts"]["total"] == 6 and summary["ok"] == 6 and summary["failed"] == 0
    assert summary["invoices_created"] == 40 and summary["wall_seconds"] > 0
    assert summary["child_runtime_seconds"] > 0 and summary["seconds_per_invoice"] > 0
    assert invoices_for("2026-07") == (40, 40)
    pdfs = list((site["home"] / "invoices" / "2026-07").glob("*.pdf"))
    assert len(pdfs) == 40 and all(p.read_bytes().startswith(b"%PDF") for p in pdfs)
    # The same batch again bills nobody twice.
    again = finish(
        service,
        service.launch_invoices(InvoiceParams(period="2026-07", customers=40, chunk_size=7)),
    )
    assert again.state == "completed"
    assert (again.summary or {})["invoices_skipped"] == 40
    assert invoices_for("2026-07") == (40, 40)
    # History keeps both, newest first, and survives a new service (a restarted panel).
    fresh = BatchService(service.demo.config)
    try:
        listed = [r.id for r in fresh.list()]
    finally:
        fresh.close()
    assert listed[:2] == [again.id, record.id]


def test_a_failing_chunk_retries_then_fails_alone(site) -> None:  # type: ignore[no-untyped-def]
    service: BatchService = site["service"]
    record = finish(
        service,
        service.launch_invoices(InvoiceParams(period="2026-08", customers=60, chunk_size=10)),
        timeout=120,
    )
    assert record.state == "completed_with_failures"
    summary = record.summary or {}
    assert (summary["ok"], summary["failed"]) == (5, 1)
    [failed] = summary["failed_children"]
    assert failed["index"] == 5  # customers 51..60 hold the faulty one
    assert "database error after 3 retries" in failed["reason"]
    assert invoices_for("2026-08") == (50, 50)
    log = "\n".join(site["manager"].logs("inv", 2000))
    assert log.count("Retry in") >= 3


def test_monitoring_batch_records_codes_timeouts_and_refusals(site) -> None:  # type: ignore[no-untyped-def]
    service: BatchService = site["service"]
    with serve(delay_ms=100) as base:
        urls = (
            f"{base}/ok",
            f"{base}/status/404",
            f"{base}/status/500",
            f"{base}/hang",
            "http://127.0.0.1:9/closed",
            f"{base}/redirect?to=/ok",
        )
        record = finish(service, service.launch_monitoring(MonitorParams(urls=urls, timeout=1.0)))
    assert record.state == "completed_with_failures"
    results = {c["index"]: c.get("result") or {} for c in service.children(record)}
    assert results[0]["status_code"] == 200 and results[0]["ok"] and results[0]["bytes"] > 0
    assert results[1]["status_code"] == 404 and not results[1]["ok"]
    assert results[2]["status_code"] == 500
    assert results[3]["error_class"] == "ReadTimeout"
    assert results[4]["error_class"] == "ConnectionError"
    assert results[5]["final_url"].endswith("/ok") and results[5]["redirects"] == 1
    assert all(r["latency_ms"] >= 0 for r in results.values())
    summary = record.summary or {}
    assert (summary["urls_up"], summary["urls_down"]) == (2, 4)


def test_chunked_monitoring_keeps_urls_apart_and_retries_only_failed_ones(site) -> None:  # type: ignore[no-untyped-def]
    service: BatchService = site["service"]
    with serve(delay_ms=50) as base:
        urls = (*(f"{base}/ok?n={i}" for i in range(5)), f"{base}/status/500", f"{base}/status/503")
        launched = service.launch_monitoring(MonitorParams(urls=urls, timeout=2, urls_per_task=3))
        record = finish(service, launched)
        assert record.params["urls_per_task"] == 3
        summary = record.summary or {}
        assert (summary["urls_up"], summary["urls_down"], summary["children_total"]) == (5, 2, 3)
        assert [(f["index"], f["reason"]) for f in summary["failed_children"]] == [
            (5, "HTTP 500"),
            (6, "HTTP 503"),
        ]
        rows = service.children(record)
        assert [r["url"] for r in rows] == list(urls)  # one row per URL, in the list's order
        assert [r["id"] for r in rows] == [f"{record.id}.{i // 3}" for i in range(7)]
        assert rows[5]["result"]["status_code"] == 500 and rows[5]["reason"] == "HTTP 500"
        # A bounded read (what the window asks for): failures first, then a few others.
        some = child_rows(service.app, service.ledger, record.id, "monitoring", limit=4)
        assert [(r["index"], bool(r.get("reason"))) for r in some] == [
            (5, True),
            (6, True),
            (0, False),
            (1, False),
        ]
        done = finish(service, service.retry(record.id))
    assert done.state == "completed_with_failures"
    assert ((done.summary or {})["ok"], (done.summary or {})["failed"]) == (5, 2)
    again = service.children(done)
    # The five URLs that answered were not checked again; the two failures ran in a new task.
    assert [r["id"] for r in again[:5]] == [r["id"] for r in rows[:5]]
    assert {r["id"] for r in again[5:]} == {f"{record.id}.3.t1"}
    assert again[6]["result"]["status_code"] == 503


def test_progress_cancel_and_retry(site, capsys) -> None:  # type: ignore[no-untyped-def]
    service: BatchService = site["service"]
    with serve(delay_ms=300) as base:
        urls = tuple(f"{base}/slow?ms=300&n={i}" for i in range(60))
        # Two URLs per task: 30 tasks on 5 slots, so some wait long enough to be cancelled.
        record = service.launch_monitoring(MonitorParams(urls=urls, timeout=5, urls_per_task=2))

        def started() -> BatchRecord | None:
            current = service.get(record.id)
            return current if current.counts.get("started") else None

        deadline = time.monotonic() + 30
        while not (running := started()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert running and running.state == "running"
        assert running.counts["total"] == 60 and running.counts["pending"] > 0
        # As a script would: `pooldesk batch cancel PREFIX --json`, in this module's home.
        capsys.readouterr()
        assert main(["batch", "cancel", record.id[:12], "--json"]) == 0
        cancelled = json.loads(capsys.readouterr().out)
        assert cancelled["id"] == record.id and cancelled["terminate"] is False
        assert cancelled["pending"] > 0
        ended = finish(service, running)
        assert ended.state == "cancelled"
        summary = ended.summary or {}
        # A child already handed to the worker may start before the revoke reaches it.
        assert 0 < summary["cancelled"] <= cancelled["pending"]
        assert summary["ok"] + summary["cancelled"] == 60
        with pytest.raises(BatchError, match="already ended"):
            service.cancel(record.id)
        retried = service.retry(record.id)
        assert retried.state == "running"
        done = finish(service, retried)
    assert done.state == "completed"
    assert (done.summary or {})["ok"] == 60 and (done.summary or {})["retry_round"] == 1


def test_invalid_launches_send_nothing(site) -> None:  # type: ignore[no-untyped-def]
    service: BatchService = site["service"]
    before = len(service.history.list())
    bad = [
        lambda: service.launch_invoices(InvoiceParams(period="2026-07", customers=0)),
        lambda: service.launch_invoices(InvoiceParams(period="2026-07", chunk_size=0)),
        lambda: service.launch_invoices(InvoiceParams(period="2026-13", customers=5)),
        lambda: service.launch_invoices(InvoiceParams(period="2026-07", queue="a b")),
        lambda: service.launch_monitoring(MonitorParams(urls=())),
        lambda: service.launch_monitoring(MonitorParams(urls=("ftp://example.com/x",))),
        lambda: service.launch_monitoring(MonitorParams(urls=("http://ok", "file:///etc/passwd"))),
        lambda: service.launch_monitoring(MonitorParams(urls=("http://ok",), urls_per_task=0)),
        lambda: service.launch_monitoring(MonitorParams(urls=("http://ok",), urls_per_task=1001)),
    ]
    for launch in bad:
        with pytest.raises(ParamError) as err:
            launch()
        assert err.value.problems
    assert len(service.history.list()) == before
    with pytest.raises(ParamError, match="only http and https"):
        service.launch_monitoring(MonitorParams(urls=("javascript:alert(1)",)))


def test_parent_completes_on_a_single_slot_worker(home: Path) -> None:
    """The parent must not hold the only slot while its children wait for it."""
    config = ensure_broker()
    seed(make_engine(), 12, periods=["2026-10"])
    manager = WorkerManager(config=config, stop_timeout=20)
    service = BatchService(config)
    try:
        manager.start(WorkerSpec("solo1", "prefork", 1, ("invoices", "orchestration")))
        record = finish(
            service,
            service.launch_invoices(InvoiceParams(period="2026-10", customers=12, chunk_size=3)),
            timeout=60,
        )
        assert record.state == "completed" and (record.summary or {})["ok"] == 4
        assert invoices_for("2026-10") == (12, 12)
    finally:
        service.close()
        manager.stop("solo1", timeout=10)
        manager.close()
        db.dispose_engines()


@pytest.mark.postgres
def test_invoice_batch_on_postgresql(home: Path, pg_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("POOLDESK_INVOICE_DB", pg_url)
    config = ensure_broker()
    seed(make_engine(), 25, periods=["2026-10"])
    manager = WorkerManager(config=config, stop_timeout=20)
    service = BatchService(config)
    try:
        manager.start(WorkerSpec("pg", "prefork", 2, ("invoices", "orchestration")))
        record = finish(
            service,
            service.launch_invoices(InvoiceParams(period="2026-10", customers=25, chunk_size=10)),
        )
        assert record.state == "completed"
        assert invoices_for("2026-10") == (25, 25)
    finally:
        service.close()
        manager.stop("pg", timeout=10)
        manager.close()
        db.dispose_engines()
