"""A start's outcome in words (``backend/workers/reports.py``): pure, no processes."""

from __future__ import annotations

from dataclasses import replace

from pooldesk.backend.workers.info import WorkerInfo
from pooldesk.backend.workers.reports import UNKNOWN_EXIT, ready_text, start_failure

ONLINE = WorkerInfo("w1", "w1@host", 10, "prefork", 4, ["q"], "online", False, ready_seconds=2.13)


def test_online_after_a_start_and_after_a_restart() -> None:
    assert ready_text("start", ONLINE) == "w1 is online (prefork × 4, ready in 2.1 s)."
    assert ready_text("resize", replace(ONLINE, ready_seconds=None)) == (
        "w1 restarted as prefork × 4."
    )


def test_a_crash_while_starting_ends_with_its_log() -> None:
    crashed = replace(ONLINE, state="crashed", exit="exit code 1", last_log=["", "ImportError: x"])
    summary, _, detail = start_failure(crashed).partition("\n\n")
    assert summary == "w1 crashed while starting (exit code 1)."
    assert detail == "Last lines of its log:\nImportError: x"
    stopped = replace(ONLINE, state="stopped", exit=None, last_log=[])
    assert start_failure(stopped) == (
        f"w1 stopped while starting ({UNKNOWN_EXIT}).\n\nLast lines of its log:\n(its log is empty)"
    )
