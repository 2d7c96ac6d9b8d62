"""The case study end to end at a tiny scale: real broker, real gevent and prefork workers.

Timings on a busy 2-core machine are noise at this size, so the assertions are about what a
user would notice being wrong: a batch that lost children, a missing row, a gevent worker that
claims more than one core, memory never measured, a worker or the test server left running.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from pooldesk.backend.casestudy import CaseStudyReport, run_case_study

BIN = Path(sys.executable).parent / "pooldesk"
SCALE = 0.02  # 120 invoices in 12 chunks of 10; 20 URLs


def _pooldesk(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _leftovers(home: Path) -> list[str]:
    """Processes started under this test's home that still run (the broker and its watchdog
    aside, which outlive a run on purpose): workers, their supervisors, the test server.
    Matched by environment, so other people's runs on the same machine do not count."""
    found = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        if p.pid == os.getpid():
            continue
        try:
            env = p.environ()
        except psutil.Error:
            continue
        line = " ".join(p.info["cmdline"] or [])
        broker = "redis-server" in line or "pooldesk.backend.broker.watchdog" in line
        if env.get("POOLDESK_HOME") == str(home) and not broker:
            found.append(line)
    return found


def _check_report(data: dict[str, Any], where: str) -> None:
    runs = data["runs"]
    assert [(r["scenario"], r["pool"]) for r in runs] == [
        ("invoices", "gevent"),
        ("invoices", "prefork"),
        ("monitoring", "gevent"),
        ("monitoring", "prefork"),
    ], where
    for run in runs:
        expected = 12 if run["scenario"] == "invoices" else 20
        assert run["children"] == run["ok"] == expected, run
        assert run["failed"] == run["stuck"] == 0, run
        assert run["peak_uss_bytes"] > 0 and run["wall_s"] > 0 and run["work_s"] > 0, run
        assert run["work_s"] <= run["wall_s"] + 0.05, run  # the last result precedes the watcher
    # One event loop cannot use more than one core, however noisy the machine.
    assert runs[0]["concurrency"] == 20 and runs[0]["cores_used"] <= 1.3, runs[0]
    assert runs[2]["concurrency"] == 200
    # 20 URLs × 0.2 s over 2 processes is ≥ 2 s; gevent's 200 greenlets take one round.
    assert runs[3]["work_s"] >= 1.9 and runs[3]["work_s"] > runs[2]["work_s"], runs
    ratios = data["ratios"]
    assert ratios["invoice_speedup_prefork_over_gevent"] > 0
    assert ratios["monitoring_slowdown_prefork_over_gevent"] > 1
    assert ratios["monitoring_ideal_s"] == pytest.approx(0.2)


@pytest.mark.slow
@pytest.mark.serial  # compares the pools' wall and CPU: alone (Makefile, test-noqt)
def test_case_study_and_cli_report_what_a_user_would_check(home: Path) -> None:
    said: list[str] = []
    report = run_case_study(scale=SCALE, cores=2, progress=said.append)
    assert isinstance(report, CaseStudyReport)
    _check_report(report.to_dict(), "library")
    assert any("stopping worker cs-orch" in m for m in said)
    table = report.format_table()
    assert table.splitlines()[0].split()[:3] == ["scenario", "pool", "conc"]
    assert "target >= 1.8x" in table and "target <= 1.3x" in table
    # Everything it started is gone, and the list shows no leftover case-study workers.
    assert _leftovers(home) == []
    assert not list((home / "workers").glob("cs-*.json"))
    assert not (home / "invoices" / "2000-01").exists()

    # The same through the entry point, as a user types it (the home's broker is already up).
    out = _pooldesk("compare-pools", "--scale", str(SCALE), "--cores", "2", "--json")
    assert out.returncode == 0, out.stderr
    _check_report(json.loads(out.stdout), "cli")
    assert "pooldesk: starting worker cs-orch" in out.stderr  # progress went to stderr
    assert _leftovers(home) == []
