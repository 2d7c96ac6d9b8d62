"""Pool fit on real workers running a user's app (tests/fitapp.py) Pooldesk knows nothing about.

One gevent and one prefork worker share the module (starting workers is the slow part); each
has its own four undeclared queues (cpu, blocking C call, cooperative wait, half and half).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from pooldesk.backend.advisor.service import apply_fix
from pooldesk.backend.cli.advise_cmds import collect
from pooldesk.backend.workers.manager import WorkerManager
from pooldesk.backend.workers.spec import WorkerSpec
from tests.liveworkers import running_workers

# Measures CPU shares and speeds: alone, after the parallel run (Makefile, test-noqt).
pytestmark = [pytest.mark.slow, pytest.mark.serial]

APP = "tests.fitapp:app"
KINDS = ("cpu", "block", "coop", "mixed")
GEVENT_Q = {k: f"fit_{k}" for k in KINDS}
PREFORK_Q = {k: f"pf_{k}" for k in KINDS}
RUN_S = 0.3


def _send(app: Celery, kind: str, queue: str) -> Any:
    return app.send_task(f"fitapp.{kind}", args=[RUN_S], queue=queue)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerManager]:
    """Both workers, each having run every kind of task a few times."""
    specs = (
        WorkerSpec("fg", "gevent", 20, tuple(GEVENT_Q.values()), app=APP),
        WorkerSpec("fp", "prefork", 2, tuple(PREFORK_Q.values()), app=APP),
    )
    with running_workers(tmp_path_factory.mktemp("fit") / "home", *specs) as run:
        app = Celery(broker=run.config.broker_url, backend=run.config.result_backend)
        try:
            for queues in (GEVENT_Q, PREFORK_Q):  # a mixed task alone: its own hold share
                for _ in range(3):
                    _send(app, "mixed", queues["mixed"]).get(timeout=60)
            pending = [
                _send(app, kind, queues[kind])
                for kind in ("coop", "cpu", "block")
                for queues in (GEVENT_Q, PREFORK_Q)
                for _ in range(4)
            ]
            for result in pending:
                result.get(timeout=90)
            yield run.manager
        finally:
            app.close()


def _cli(*args: str) -> Any:
    cli = Path(sys.executable).parent / "pooldesk"
    out = subprocess.run([str(cli), *args], capture_output=True, text=True, timeout=90, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def fit_rows(fitted: WorkerManager) -> dict[str, dict[str, Any]]:
    return {row["queue"]: row for row in _cli("fit", "--seconds", "4", "--json")}


def test_natures_are_measured_per_queue_and_per_task(fit_rows: dict[str, dict[str, Any]]) -> None:
    natures = {q: row["nature"] for q, row in fit_rows.items()}
    assert natures[GEVENT_Q["cpu"]] == "cpu"
    assert natures[GEVENT_Q["block"]] == "blocking"  # near-zero CPU, yet holds the loop
    assert natures[GEVENT_Q["coop"]] == "io"
    assert natures[GEVENT_Q["mixed"]] == "mixed"
    assert natures[PREFORK_Q["cpu"]] == "cpu"
    assert natures[PREFORK_Q["block"]] == "io"  # from prefork a blocking driver looks like I/O
    assert natures[PREFORK_Q["coop"]] == "io"
    assert natures[PREFORK_Q["mixed"]] == "mixed"
    block = fit_rows[GEVENT_Q["block"]]
    assert block["cpu_share"] < 0.2 and block["hold_share"] > 0.8, block
    assert fit_rows[PREFORK_Q["block"]]["hold_share"] is None  # no loop to hold under prefork
    (task,) = block["tasks"]
    assert task["task"] == "fitapp.block" and task["nature"] == "blocking"
    assert task["runs"] == 4 and task["mean_wall_s"] >= 0.29  # (longer: queued behind holds)


def test_both_holding_kinds_are_critical_on_gevent_without_declaration(
    fit_rows: dict[str, dict[str, Any]], fitted: WorkerManager
) -> None:
    for kind in ("cpu", "block"):
        row = fit_rows[GEVENT_Q[kind]]
        assert (row["verdict"], row["severity"]) == ("trap", "critical"), row
        assert row["recommendation"].startswith("prefork × ")
        assert row["speedup"] and row["speedup"] > 1.5
    assert fit_rows[GEVENT_Q["coop"]]["verdict"] == "fits"
    for queue in PREFORK_Q.values():
        assert fit_rows[queue]["verdict"] != "trap"
    advice = {a.id: a for a in collect(seconds=3)}
    trap = advice["cpu-under-gevent:" + fitted.info("fg").hostname]
    assert trap.severity == "critical"
    assert set(trap.evidence["queues"]) == {GEVENT_Q["cpu"], GEVENT_Q["block"]}
    assert trap.evidence["nature"] == "blocking/cpu"
    assert trap.evidence["hold_max_ms"] >= 250
    named = {t["task"] for t in trap.evidence["tasks"]}
    assert named == {"fitapp.cpu", "fitapp.block"}
    assert not [a for a in advice.values() if a.severity == "critical" and a is not trap]
    assert trap.fix is not None and trap.fix.kind == "start_worker"
    assert trap.fix.params["pool"] == "prefork"
    assert trap.fix.params["remove_from"] == "fg"


def test_io_under_prefork_offers_a_trial_not_a_switch(fit_rows: dict[str, dict[str, Any]]) -> None:
    for kind in ("block", "coop"):
        row = fit_rows[PREFORK_Q[kind]]
        assert row["verdict"] == "trial", row
        fix = row["fix"]
        assert fix["kind"] == "start_worker" and fix["params"]["trial"] is True
        assert fix["params"]["pool"] == "gevent" and fix["params"]["queues"] == [row["queue"]]
        assert fix["params"]["like"] == "fp"  # the trial runs the same app


def test_the_trap_fix_moves_the_holding_queues_to_prefork(fitted: WorkerManager) -> None:
    advice = {a.rule: a for a in collect(seconds=3)}
    fix = advice["cpu_under_gevent"].fix
    assert fix is not None
    apply_fix(fitted, fix)
    moved = fitted.info("fit_cpu-prefork")
    assert moved.state == "online" and moved.pool == "prefork"
    assert set(moved.queues) == {GEVENT_Q["cpu"], GEVENT_Q["block"]}
    assert set(fitted.info("fg").queues) == {GEVENT_Q["coop"], GEVENT_Q["mixed"]}
    record = fitted.store.load("fit_cpu-prefork")
    assert record is not None and record.spec.app == APP
