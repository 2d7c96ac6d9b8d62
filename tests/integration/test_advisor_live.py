"""The advisor on real workers: the gevent trap measured, wide prefork on I/O, stuck batches."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backend.advisor.model import Advice
from backend.batches.params import InvoiceParams
from backend.batches.service import BatchService
from backend.celery_app import make_app
from backend.cli.advise_cmds import collect
from backend.invoices.db import make_engine
from backend.invoices.seed import seed
from backend.telemetry.sampler import ResourceSampler
from backend.workers.manager import WorkerManager
from backend.workers.spec import WorkerSpec

pytestmark = pytest.mark.slow


def by_rule(advice: list[Advice]) -> dict[str, Advice]:
    return {a.rule: a for a in advice}


def burn(manager: WorkerManager, count: int, seconds: float = 1.0) -> None:
    app = make_app(manager.config.broker_url, manager.config.result_backend, include=[])
    for _ in range(count):
        app.send_task("pooldesk.burn_cpu", args=[seconds], queue="invoices")
    app.close()


def test_cpu_queue_under_gevent_is_measured_with_evidence(manager: WorkerManager) -> None:
    manager.start(WorkerSpec("g8", "gevent", 8, ("invoices",)))
    burn(manager, 14)  # keeps the loop blocked for the whole measuring window, cold caches too
    advice = by_rule(collect(seconds=8))
    trap = advice["cpu_under_gevent"]
    assert trap.severity == "critical", trap
    assert trap.evidence["loop_lag_ms_max"] >= 500
    assert trap.evidence["cores_used"] <= 1.15  # one core, however many tasks are active
    assert trap.fix and trap.fix.params == {
        "name": "g8",
        "pool": "prefork",
        "concurrency": trap.fix.params["concurrency"],
    }


def test_same_work_under_prefork_uses_both_cores_and_raises_nothing(
    manager: WorkerManager,
) -> None:
    info = manager.start(WorkerSpec("p2", "prefork", 2, ("invoices",)))
    sampler = ResourceSampler(manager.store)
    burn(manager, 12, seconds=1.5)  # 9 s of work for 2 processes: busy all through the window
    time.sleep(1.0)  # measure from when both processes are busy, not from the send
    sampler.sample()
    advice = collect(seconds=4)
    assert "cpu_under_gevent" not in by_rule(advice)
    assert "prefork_oversubscribed" not in by_rule(advice)
    peak = max((s.workers["p2"].cores_used or 0) for s in [sampler.sample()])
    assert info.pid and peak > 1.5, peak


def test_io_queue_on_wide_prefork_wastes_ram(manager: WorkerManager, home: Path) -> None:
    manager.start(WorkerSpec("wide", "prefork", 16, ("monitoring",)))
    cli = Path(sys.executable).parent / "pooldesk"
    out = subprocess.run(
        [str(cli), "advise", "--seconds", "2", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    advice = {a["rule"]: a for a in json.loads(out.stdout)}
    ram = advice["io_under_prefork"]
    assert ram["evidence"]["concurrency"] == 16 and ram["evidence"]["uss_bytes"] > 0
    assert ram["fix"]["params"]["pool"] == "gevent"


def test_batch_waiting_for_a_queue_nobody_consumes(manager: WorkerManager) -> None:
    seed(make_engine(), 20, periods=["2026-10"])
    manager.start(WorkerSpec("orch", "prefork", 1, ("orchestration",)))
    service = BatchService(manager.config)
    try:
        record = service.launch_invoices(
            InvoiceParams(period="2026-10", customers=20, chunk_size=5)
        )
        for update in service.wait(record.id, poll=0.2, timeout=20):
            if update.counts.get("pending"):
                break
        advice = by_rule(collect(seconds=2))
    finally:
        service.close()
    stuck = advice["deadlock_risk"]
    assert stuck.evidence["batch"] == record.id and stuck.evidence["queue"] == "invoices"
    assert "no worker consumes" in stuck.text
    assert advice["no_consumer"].evidence["waiting"] == 4
