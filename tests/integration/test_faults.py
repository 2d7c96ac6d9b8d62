"""Faults survived with nothing lost and nothing doubled: real workers, broker and database.

Each test runs an invoice batch, breaks something mid-batch, and checks that the batch still
completes with exactly one invoice per customer.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from sqlalchemy import func, select

from pooldesk.backend import proc
from pooldesk.backend.batches.history import BatchRecord
from pooldesk.backend.batches.params import InvoiceParams
from pooldesk.backend.batches.service import BatchService
from pooldesk.backend.broker import ensure_broker
from pooldesk.backend.invoices import db
from pooldesk.backend.invoices.db import Invoice, make_engine
from pooldesk.backend.invoices.seed import seed
from pooldesk.backend.workers.manager import WorkerManager
from pooldesk.backend.workers.spec import WorkerSpec

pytestmark = pytest.mark.slow
PERIOD = "2026-10"


def invoices() -> tuple[int, int]:
    with make_engine().connect() as conn:
        total = conn.scalar(
            select(func.count()).select_from(Invoice).where(Invoice.period == PERIOD)
        )
        distinct = conn.scalar(
            select(func.count(func.distinct(Invoice.customer_id))).where(Invoice.period == PERIOD)
        )
    return int(total or 0), int(distinct or 0)


def wait_for(predicate, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout} s")


def finish(service: BatchService, batch_id: str, timeout: float = 120) -> BatchRecord:
    record = service.get(batch_id)
    for record in service.wait(batch_id, poll=0.3, timeout=timeout):  # noqa: B007
        pass
    assert record.final, f"batch still {record.state}: {record.counts}\n{_diagnosis()}"
    return record


def _diagnosis() -> str:
    """What a stuck batch leaves behind: queue lengths and each worker's last log lines."""
    import redis

    from pooldesk.backend import paths
    from pooldesk.backend.broker import current_config

    lines = []
    try:
        client = redis.Redis.from_url(current_config().broker_url or "", socket_timeout=2)
        for key in ("invoices", "orchestration", "unacked", "unacked_index"):
            kind = client.type(key).decode()
            size = {"list": client.llen, "hash": client.hlen, "zset": client.zcard}.get(
                kind, lambda _key: 0
            )(key)
            lines.append(f"{key}: {kind} {size}")
    except Exception as exc:  # diagnosis only
        lines.append(f"broker: {exc}")
    for log in sorted(paths.logs_dir().glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-25:]
        lines += [f"--- {log.name}", *tail]
    return "\n".join(lines)


@pytest.fixture
def setup(home: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    # The default visibility timeout (900 s): nothing here may wait for it.
    monkeypatch.delenv("POOLDESK_VISIBILITY_TIMEOUT", raising=False)
    config = ensure_broker()
    seed(make_engine(), 600, periods=[PERIOD])
    manager = WorkerManager(config=config, stop_timeout=20)
    service = BatchService(config)
    yield manager, service
    service.close()
    for info in manager.all(include_remote=False):
        if info.state in ("starting", "online", "stopping"):
            manager.stop(info.name, timeout=10)
    manager.close()
    db.dispose_engines()


def test_killed_pool_child_mid_chunk_is_run_again(setup) -> None:  # type: ignore[no-untyped-def]
    manager, service = setup
    worker = manager.start(WorkerSpec("inv", "prefork", 1, ("invoices",)))
    manager.start(WorkerSpec("orch", "prefork", 1, ("orchestration",)))
    record = service.launch_invoices(InvoiceParams(period=PERIOD, customers=600, chunk_size=150))
    wait_for(lambda: service.get(record.id).counts.get("started"))
    [child] = psutil.Process(worker.pid).children()
    os.kill(child.pid, signal.SIGKILL)  # the process running a chunk, mid-chunk
    done = finish(service, record.id)
    assert done.state == "completed", (done.error, done.summary)
    assert invoices() == (600, 600)


def test_whole_worker_killed_then_restarted(setup) -> None:  # type: ignore[no-untyped-def]
    manager, service = setup
    spec = WorkerSpec("inv", "prefork", 2, ("invoices", "orchestration"))
    worker = manager.start(spec)
    record = service.launch_invoices(InvoiceParams(period=PERIOD, customers=600, chunk_size=100))
    wait_for(lambda: service.get(record.id).counts.get("succeeded"))
    supervisor = manager.store.load("inv").supervisor_pid  # type: ignore[union-attr]
    os.killpg(supervisor, signal.SIGKILL)  # the whole worker: main, pool, supervisor
    wait_for(lambda: manager.info("inv").state == "crashed")
    assert worker.pid and not proc.alive(worker.pid)
    manager.start(spec)  # its unacked messages stay in Redis (900 s): the watcher resends them
    done = finish(service, record.id)
    assert done.state == "completed", (done.error, done.summary)
    assert invoices() == (600, 600)


def test_killed_panel_process_loses_nothing(setup) -> None:  # type: ignore[no-untyped-def]
    manager, service = setup
    worker = manager.start(WorkerSpec("inv", "prefork", 2, ("invoices", "orchestration")))
    cli = Path(sys.executable).parent / "pooldesk"
    panel = subprocess.Popen(
        [
            str(cli),
            "batch",
            "invoices",
            "--customers",
            "600",
            "--chunk-size",
            "60",
            "--period",
            PERIOD,
            "--wait",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    wait_for(lambda: service.history.list() and service.history.list()[0].state != "queued")
    panel.kill()  # the panel dies mid-batch; the workers do not care
    panel.wait(10)
    [record] = service.history.list()
    done = finish(service, record.id)
    assert done.state == "completed" and invoices() == (600, 600)
    again = WorkerManager(config=manager.config)  # a new panel adopts the running worker
    try:
        assert again.info("inv").pid == worker.pid and again.info("inv").state == "online"
    finally:
        again.close()


def test_children_lost_by_the_broker_are_sent_again(setup) -> None:  # type: ignore[no-untyped-def]
    """A message Redis handed out just as it died is gone from every queue: resend it."""
    import redis

    manager, service = setup
    manager.start(WorkerSpec("orch", "prefork", 1, ("orchestration",)))
    record = service.launch_invoices(InvoiceParams(period=PERIOD, customers=600, chunk_size=200))
    wait_for(lambda: service.get(record.id).counts.get("pending") == 3)
    client = redis.Redis.from_url(manager.config.broker_url or "")
    assert client.delete("invoices") == 1  # the three chunk messages vanish, as in the crash
    manager.start(WorkerSpec("inv", "prefork", 2, ("invoices",)))
    done = finish(service, record.id, timeout=120)  # no live worker holds them: sent again
    assert done.state == "completed", (done.error, done.summary)
    assert invoices() == (600, 600)
