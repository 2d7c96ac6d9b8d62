"""The case study's report and its input checks, without running it (the run itself, on a real
broker and real workers, is tested in tests/integration/test_casestudy.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pooldesk.backend.casestudy import CaseStudyReport, Run
from tests.clirun import pooldesk


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("0", "must be > 0 and <= 1"), ("2", "must be > 0 and <= 1"), ("x", "'x' is not a number")],
)
def test_bad_scale_is_one_line_exit_2_nothing_started(
    home: Path, value: str, fragment: str
) -> None:
    out = pooldesk("compare-pools", "--scale", value)
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
