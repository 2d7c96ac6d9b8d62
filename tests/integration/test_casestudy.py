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

from backend.casestudy import CaseStudyReport, Run, run_case_study

BIN = Path(sys.executable).parent / "pooldesk"
SCALE = 0.02  # 120 invoices in 12 chunks of 10; 20 URLs


def _pooldesk(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _leftovers(home: Path) -> list[str]:
    """Processes started under this test's home that still run (the broker aside): workers,
    their supervisors, the test server. Matched by environment, so other people's runs on the
    same machine do not count."""
    found = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        if p.pid == os.getpid():
            continue
        try:
            env = p.environ()
        except psutil.Error:
            continue
        line = " ".join(p.info["cmdline"] or [])
        if env.get("POOLDESK_HOME") == str(home) and "redis-server" not in line:
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


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("0", "must be > 0 and <= 1"), ("2", "must be > 0 and <= 1"), ("x", "'x' is not a number")],
)
def test_bad_scale_is_one_line_exit_2_nothing_started(
    home: Path, value: str, fragment: str
) -> None:
    out = _pooldesk("compare-pools", "--scale", value)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], out.stderr
    assert out.stdout == ""
    assert not (home / "broker" / "broker.json").exists()
    assert not (home / "workers").exists()


def _run(scenario: str, pool: str, conc: int, items: int, work: float, **kw: int) -> Run:
    return Run(
        scenario=scenario,
        pool=pool,
        concurrency=conc,
        items=items,
        children=items,
        wall_s=work + 0.5,
        work_s=work,
        own_wall_s=work + 0.6,
        cpu_s=work,
        cores_used=1.0,
        peak_uss_bytes=kw.get("uss", 50 << 20),
        ok=items - kw.get("stuck", 0),
        failed=0,
        stuck=kw.get("stuck", 0),
        batch_id="b",
    )


def test_ratios_targets_and_a_stuck_run_are_reported_not_judged() -> None:
    report = CaseStudyReport(scale=1.0, cores=2, delay_ms=200)
    report.runs = [
        _run("invoices", "gevent", 20, 6000, 40.0),
        _run("invoices", "prefork", 2, 6000, 21.0, uss=100 << 20),
        _run("monitoring", "gevent", 200, 1000, 1.2, stuck=3),
        _run("monitoring", "prefork", 2, 1000, 102.0),
    ]
    ratios = report.ratios()
    assert ratios["invoice_speedup_prefork_over_gevent"] == 1.9
    assert ratios["invoice_speedup_target"] == 1.8
    assert ratios["monitoring_ideal_s"] == 1.0 and ratios["monitoring_gevent_over_ideal"] == 1.2
    assert ratios["invoice_memory_prefork_over_gevent"] == 2.0
    # A run with stuck children has timings that mean nothing: no verdict, said so.
    assert report.verdicts() == {"invoice_speedup": True, "monitoring_near_ideal": None}
    table = report.format_table()
    assert "target >= 1.8x: met" in table and "n/a, children failed or stuck" in table
    assert json.loads(json.dumps(report.to_dict()))["runs"][2]["stuck"] == 3
