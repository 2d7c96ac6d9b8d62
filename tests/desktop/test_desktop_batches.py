"""The Batches page: launch dialogs checked live, real batches followed to the end on real
workers (managed broker, prefork and gevent workers), Cancel and Retry following the selection."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QFocusEvent
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QMessageBox
from pytestqt.qtbot import QtBot

from pooldesk.backend.batches.history import BatchRecord, HistoryStore
from pooldesk.backend.batches.params import MonitorParams
from pooldesk.backend.invoices import db
from pooldesk.backend.invoices.db import make_engine
from pooldesk.backend.invoices.seed import seed
from pooldesk.backend.monitoring.testserver import serve
from pooldesk.backend.workers.manager import WorkerManager
from pooldesk.backend.workers.spec import WorkerSpec
from pooldesk.desktop import resources
from pooldesk.desktop.models.batches_model import PROGRESS, STATE, BatchesModel, ProgressRole
from pooldesk.desktop.shell.root import PooldeskWindow as MainWindow
from pooldesk.desktop.views.batches_page import BatchesPage
from pooldesk.desktop.views.launch_dialogs import LaunchInvoicesDialog, LaunchMonitoringDialog

PERIOD = "2026-07"


@pytest.fixture
def window(home: Path, qtbot: QtBot) -> Iterator[MainWindow]:
    win = MainWindow()
    qtbot.addWidget(win)
    win.setStyleSheet(resources.stylesheet())
    win.show()
    win.nav.setCurrentRow(win.pages.indexOf(win.batches_page))
    yield win
    win.close()
    assert not win.controller.is_running() and not win.batch_controller.is_running()
    db.dispose_engines()
    QApplication.processEvents()


def _click(window: MainWindow, action: object, qtbot: QtBot) -> None:
    button = window.toolbar.widgetForAction(action)  # type: ignore[arg-type]
    assert button is not None, "the action is not on the toolbar of the current page"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _cell(page: BatchesPage, batch_id: str, column: int) -> str | None:
    row = page.model.row_of(batch_id)
    return page.model.index(row, column).data() if row >= 0 else None


def _counts(page: BatchesPage, batch_id: str) -> dict[str, int]:
    record = page.model.record(page.model.row_of(batch_id))
    return record.counts if record is not None else {}


def _only_batch(page: BatchesPage) -> BatchRecord:
    records = page.model.records()
    assert len(records) == 1, records
    return records[0]


def test_model_updates_rows_in_place_newest_first(qtbot: QtBot) -> None:
    model = BatchesModel()
    old = BatchRecord("a" * 32, "invoices", {}, "running", 100.0, 101.0, counts={"total": 4})
    model.update([old], now=111.0)
    new = BatchRecord("b" * 32, "monitoring", {}, "queued", 200.0)
    with qtbot.assertNotEmitted(model.modelReset), qtbot.assertNotEmitted(model.rowsRemoved):
        model.update([old, new], now=211.0)
    assert [model.index(r, 0).data() for r in range(2)] == ["bbbbbbbb", "aaaaaaaa"]
    done = BatchRecord("a" * 32, "invoices", {}, "running", 100.0, 101.0)
    done.counts = {"total": 4, "succeeded": 1, "failed": 1}
    with qtbot.waitSignal(model.dataChanged) as changed:
        model.update([new, done], now=121.0)
    assert changed.args[0].row() == 1
    assert model.index(1, PROGRESS).data() == "2/4"
    assert model.index(1, 6).data() == "≈ 20 s"  # 2 of 4 in 20 s: 20 s to go
    assert model.index(0, 6).data() == "–"  # queued: no rate yet


def test_invalid_input_shows_why_and_launches_nothing(window: MainWindow, qtbot: QtBot) -> None:
    page = window.batches_page
    # Opening the dialog counts the customers again (seeded from a terminal meanwhile?): wait
    # for that answer, or it lands after the "as if seeded" below and sets the count back to 0.
    # (The count made at start-up comes first: -1 until then.)
    qtbot.waitUntil(lambda: page.customers_in_db == 0, timeout=10_000)
    with qtbot.waitSignal(window.batch_controller.customersCounted, timeout=10_000):
        _click(window, page.launch_invoices_action, qtbot)
    qtbot.waitUntil(lambda: isinstance(page.dialog, LaunchInvoicesDialog))
    dialog = page.dialog
    assert isinstance(dialog, LaunchInvoicesDialog)
    # A fresh invoice database has no customers: Launch is off, and says why.
    qtbot.waitUntil(lambda: "no customers yet" in dialog.problems_label.text(), timeout=10_000)
    assert not dialog.ok_button.isEnabled()
    dialog.set_customer_count(1_000)  # as if seeded
    assert dialog.ok_button.isEnabled()  # the defaults (all customers, last month) are fine
    dialog.all_check.setChecked(False)
    for setup, expected in (
        (lambda: dialog.customers_spin.setValue(0), "customers 0: must be a whole number >= 1"),
        (lambda: dialog.period_combo.setCurrentText("2026-13"), "month must be 01-12"),
    ):
        setup()
        assert dialog.problems_label.isVisible()
        assert expected in dialog.problems_label.text()
        assert not dialog.ok_button.isEnabled()
    assert (dialog.chunk_spin.minimum(), dialog.chunk_spin.maximum()) == (1, 100_000)
    # Enter must not get past the checks, nor cancel: with Launch disabled Qt moves the focus
    # on, often to Cancel, which (auto-default) then stayed the default button for Enter.
    cancel = dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel)
    QApplication.sendEvent(cancel, QFocusEvent(QEvent.Type.FocusIn, Qt.FocusReason.TabFocusReason))
    qtbot.keyClick(dialog.queue_edit, Qt.Key.Key_Return)
    assert dialog.isVisible()
    dialog.reject()

    _click(window, page.launch_monitoring_action, qtbot)
    qtbot.waitUntil(lambda: isinstance(page.dialog, LaunchMonitoringDialog))
    mon = page.dialog
    assert isinstance(mon, LaunchMonitoringDialog)
    assert not mon.ok_button.isEnabled() and mon.problems_label.isHidden()  # empty: no red yet
    for line in ("https://example.com/a", "ftp://x", "# a comment"):  # typed, as a person would
        qtbot.keyClicks(mon.urls_edit, line)
        qtbot.keyClick(mon.urls_edit, Qt.Key.Key_Return)
    text = mon.problems_label.text()
    assert "line 2: 'ftp://x'" in text and "only http and https" in text
    assert not mon.ok_button.isEnabled()
    bad = "\n".join(f"gopher://h{i}" for i in range(8))
    mon.urls_edit.setPlainText(bad)
    assert "line 5:" in mon.problems_label.text() and "and 3 more" in mon.problems_label.text()
    mon.urls_edit.setPlainText("https://example.com/a\nhttps://example.com/a  # again")
    assert mon.ok_button.isEnabled() and mon.problems_label.isHidden()
    assert "1 duplicate URL ignored (e.g. line 2 repeats line 1)" in mon.warnings_label.text()
    assert mon.per_task_spin.text() == "automatic" and mon.params().urls_per_task is None
    mon.per_task_spin.setValue(25)
    assert mon.params().urls_per_task == 25
    mon.urls_edit.setPlainText("ftp://x")
    qtbot.keyClick(mon.queue_edit, Qt.Key.Key_Return)
    assert mon.isVisible()
    mon.reject()

    qtbot.wait(300)  # anything wrongly sent would have been recorded by now
    assert HistoryStore().list() == []
    assert page.model.rowCount() == 0 and page.stack.currentIndex() == 0  # the empty state
    assert not window.open_messages()


@pytest.mark.slow
def test_invoice_batch_launched_from_the_dialog_runs_to_the_end(
    window: MainWindow, manager: WorkerManager, qtbot: QtBot
) -> None:
    seed(make_engine(), 30, periods=[PERIOD])
    manager.start(WorkerSpec("inv", "prefork", 2, ("invoices", "orchestration")))
    page = window.batches_page
    finished: list[BatchRecord] = []
    window.batch_controller.batchFinished.connect(finished.append)
    notes: list[str] = []  # no tray offscreen: the status bar says it instead
    window.notified.connect(lambda *_: notes.append(window.statusBar().currentMessage()))

    _click(window, page.launch_invoices_action, qtbot)
    qtbot.waitUntil(lambda: isinstance(page.dialog, LaunchInvoicesDialog))
    dialog = page.dialog
    assert isinstance(dialog, LaunchInvoicesDialog)
    qtbot.waitUntil(lambda: "(30 in the database)" in dialog.all_check.text(), timeout=10_000)
    dialog.all_check.setChecked(False)
    dialog.customers_spin.setValue(30)
    dialog.period_combo.setCurrentText(PERIOD)
    dialog.chunk_spin.setValue(10)
    assert dialog.hint_label.text() == "30 customers → 3 tasks"
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: page.model.rowCount() == 1, timeout=10_000)
    batch_id = _only_batch(page).id
    qtbot.waitUntil(lambda: page.selected_batch() is not None)  # the new batch is selected
    qtbot.waitUntil(
        lambda: (
            _cell(page, batch_id, STATE) == "completed" and _cell(page, batch_id, PROGRESS) == "3/3"
        ),
        timeout=60_000,
    )
    row = page.model.row_of(batch_id)
    assert page.model.index(row, PROGRESS).data(ProgressRole) == (3, 3)  # the bar is full
    children = page.detail.children_model
    qtbot.waitUntil(lambda: children.rowCount() == 3 and children.child(2) is not None)
    qtbot.waitUntil(lambda: children.index(2, 3).data() != "–", timeout=5_000)
    assert [children.index(r, 1).data() for r in range(3)] == ["succeeded"] * 3
    assert children.index(0, 2).data() == "10 customers"
    assert children.index(0, 3).data().startswith("10 created, 0 skipped")
    facts = page.detail.facts.text()
    assert "30 invoices created, 0 already there" in facts and "ms per invoice" in facts
    assert not page.cancel_action.isEnabled() and not page.retry_action.isEnabled()
    qtbot.waitUntil(lambda: bool(finished))
    assert finished[0].id == batch_id and finished[0].state == "completed"
    qtbot.waitUntil(lambda: bool(notes))
    expected = f"Invoices batch {batch_id[:8]} completed: 3/3 chunks, 0 failed, in "
    assert notes[0].startswith(expected)
    assert not window.open_messages(), [m.text() for m in window.open_messages()]


@pytest.mark.slow
def test_cancel_and_retry_follow_the_selected_batch(
    window: MainWindow, manager: WorkerManager, qtbot: QtBot
) -> None:
    manager.start(WorkerSpec("orch", "prefork", 1, ("orchestration",)))
    manager.start(WorkerSpec("mon", "gevent", 4, ("monitoring",)))
    page = window.batches_page
    with serve(delay_ms=100) as base:
        page.launchMonitoringRequested.emit(MonitorParams(urls=(f"{base}/ok",), timeout=5))
        qtbot.waitUntil(lambda: page.model.rowCount() == 1, timeout=10_000)
        quick = _only_batch(page).id
        qtbot.waitUntil(lambda: _cell(page, quick, STATE) == "completed", timeout=30_000)
        assert page.select(quick)
        assert not page.cancel_action.isEnabled() and not page.retry_action.isEnabled()

        _click(window, page.launch_monitoring_action, qtbot)
        qtbot.waitUntil(lambda: isinstance(page.dialog, LaunchMonitoringDialog))
        dialog = page.dialog
        assert isinstance(dialog, LaunchMonitoringDialog)
        dialog.urls_edit.setPlainText("\n".join(f"{base}/slow?ms=500&n={i}" for i in range(48)))
        assert dialog.hint_label.text() == "48 URLs to check"
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: page.model.rowCount() == 2, timeout=10_000)
        slow = page.model.records()[0].id
        qtbot.waitUntil(lambda: _counts(page, slow).get("started", 0) > 0, timeout=20_000)
        assert page.select(slow)
        assert page.cancel_action.isEnabled() and not page.retry_action.isEnabled()
        assert page.select(quick)
        assert not page.cancel_action.isEnabled()
        assert page.select(slow)

        _click(window, page.cancel_action, qtbot)
        box = page.cancel_box
        assert isinstance(box, QMessageBox) and box.isVisible()
        assert box.checkBox().text() == "Also stop running children"
        [yes] = [b for b in box.buttons() if b.text() == "Cancel batch"]
        qtbot.mouseClick(yes, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: _cell(page, slow, STATE) == "cancelled", timeout=30_000)
        qtbot.waitUntil(page.retry_action.isEnabled)
        assert not page.cancel_action.isEnabled()
        assert "cancelled" in page.detail.facts.text()

        _click(window, page.retry_action, qtbot)
        qtbot.waitUntil(lambda: _cell(page, slow, STATE) == "running", timeout=10_000)
        assert not page.retry_action.isEnabled()
        qtbot.waitUntil(page.cancel_action.isEnabled, timeout=10_000)  # children known again
        qtbot.waitUntil(lambda: _cell(page, slow, STATE) == "completed", timeout=30_000)
    assert _cell(page, slow, PROGRESS) == "48/48"
    assert not page.cancel_action.isEnabled() and not page.retry_action.isEnabled()
    assert not window.open_messages(), [m.text() for m in window.open_messages()]


@pytest.mark.slow
def test_overview_shows_running_batches_and_opens_one(
    window: MainWindow, manager: WorkerManager, qtbot: QtBot
) -> None:
    """At a glance, without leaving the Overview: what runs, how far, and a click to open it."""
    strip = window.overview_page.batches
    window.nav.setCurrentRow(window.pages.indexOf(window.overview_page))
    qtbot.waitUntil(lambda: "No batch has run yet" in strip.idle_label.text(), timeout=10_000)
    manager.start(WorkerSpec("orch", "prefork", 1, ("orchestration",)))
    manager.start(WorkerSpec("mon", "gevent", 2, ("monitoring",)))
    with serve() as base:
        urls = (f"{base}/ok", f"{base}/ok", f"{base}/slow?ms=4000", f"{base}/slow?ms=4000")
        window.batches_page.launchMonitoringRequested.emit(MonitorParams(urls=urls, timeout=10))
        qtbot.waitUntil(lambda: len(strip.active_ids()) == 1, timeout=15_000)
        [row] = [r for r in strip.rows if not r.isHidden()]
        assert strip.idle_label.isHidden()
        qtbot.waitUntil(lambda: row.bar.format() == "2 / 4 checks", timeout=15_000)
        assert row.bar.value() == 2 and row.bar.maximum() == 4
        batch_id = row.batch_id
        # The advisor sees it too, from the batch service's list (it polls nothing itself).
        qtbot.waitUntil(lambda: window.telemetry.running_batches() == [batch_id], timeout=5_000)

        qtbot.mouseClick(row, Qt.MouseButton.LeftButton)  # opens it on the Batches page
        assert window.pages.currentWidget() is window.batches_page
        selected = window.batches_page.selected_batch()
        assert selected is not None and selected.id == batch_id

        qtbot.waitUntil(lambda: not strip.active_ids(), timeout=30_000)
    qtbot.waitUntil(lambda: not window.telemetry.running_batches(), timeout=5_000)
    assert not strip.idle_label.isHidden()
    assert f"monitoring {batch_id[:8]}, completed (4/4 checks" in strip.idle_label.text()
