"""The Audit section as a user sees it: the Overview card and the Audit page, fed by the audit
service, which reads the demo app's settings in its own interpreter and the task history off
the GUI thread.

The task history rows are written through the real store (as the recorder writes them) and the
worker record through the real record store: the worker itself need not run for its settings
and its tasks' history to be judged.
"""

from __future__ import annotations

import time
from pathlib import Path

from pytestqt.qtbot import QtBot

from pooldesk.backend.taskhistory.store import TaskStore
from pooldesk.backend.workers.records import RecordStore, WorkerRecord
from pooldesk.backend.workers.spec import WorkerSpec
from pooldesk.desktop.services.audit import AuditController
from pooldesk.desktop.views.audit_card import AuditCard
from pooldesk.desktop.views.audit_page import AuditPage


def _history(home: Path) -> None:
    """Five sleeps of 1 s and one of 30 s on the demo's default queue, no time limit set."""
    now = time.time()
    rows = []
    for i, runtime in enumerate([1.0, 1.0, 1.0, 1.0, 1.0, 30.0]):
        rows.append(
            {
                "id": f"t{i}", "broker": "redis://x", "name": "pooldesk.sleep",
                "queue": "default", "state": "SUCCESS", "rank": 9, "state_ts": now,
                "first_ts": now - 60, "received_ts": now - 50, "started_ts": now - 50,
                "started_first_ts": now - 50, "ended_ts": now - 50 + runtime, "runtime": runtime,
            }
        )  # fmt: skip
    store = TaskStore(home / "tasks.db")
    store.write(rows)
    store.close()


def test_audit_page_and_card_show_a_finding_with_setting_measurement_and_fix(
    home: Path, qtbot: QtBot
) -> None:
    home.mkdir(parents=True, exist_ok=True)
    RecordStore().save(
        WorkerRecord(WorkerSpec("slow", pool="prefork", concurrency=2), hostname="slow@h")
    )
    _history(home)
    page, card = AuditPage(), AuditCard()
    qtbot.addWidget(page)
    qtbot.addWidget(card)
    service = AuditController(every_ms=60_000)
    service.reportsChanged.connect(page.show_reports)
    service.reportsChanged.connect(card.show_reports)
    try:
        with qtbot.waitSignal(service.reportsChanged, timeout=90_000) as got:
            service.launch()
        [report] = got.args[0]
        assert report["project"] == "demo" and report["error"] is None, report
    finally:
        service.shutdown()
    rules = [f["rule"] for f in report["findings"]]
    assert "no_time_limit" in rules, rules
    # The page and the card get the reports through queued calls into the GUI thread.
    qtbot.waitUntil(lambda: page.list.topLevelItemCount() > 0 and not card.isHidden())

    # The page: one row per finding, the selected one's detail below.
    titles = [page.list.topLevelItem(i).text(2) for i in range(page.list.topLevelItemCount())]
    assert any("pooldesk.sleep ran 30× its median" in t for t in titles), titles
    row = titles.index(next(t for t in titles if "pooldesk.sleep" in t))
    page.list.setCurrentItem(page.list.topLevelItem(row))
    detail = page.detail.toPlainText()
    assert "task_time_limit" in detail and "default" in detail  # the setting and its source
    assert "median_s" in detail and "30.0" in detail  # the measurement
    assert "workers.html#time-limits" in detail  # the fix's documentation
    assert "Audited demo" in page.summary.text()

    # The Overview card: one line, and a way to the page.
    assert "Audit:" in card.summary.text() and "warning" in card.summary.text()
    with qtbot.waitSignal(card.openRequested, timeout=1000):
        card.open_button.click()


def test_no_project_with_workers_says_so(qtbot: QtBot) -> None:
    page, card = AuditPage(), AuditCard()
    qtbot.addWidget(page)
    qtbot.addWidget(card)
    page.show_reports([])
    card.show_reports([])
    assert "No project has workers yet" in page.summary.text()
    assert card.isHidden()
    broken = [{"project": "ledger", "error": "ModuleNotFoundError: No module named 'x'",
               "findings": []}]  # fmt: skip
    page.show_reports(broken)
    card.show_reports(broken)
    assert "No module named" in page.detail.toPlainText()
    assert "could not read ledger" in card.summary.text()
