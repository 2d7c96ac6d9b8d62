"""The Workers page's detail pane and controls: a real worker's log tail with its search, a live
resize from the dialog, and a worker of another installation resized and stopped from the
window (real managed broker, real worker processes)."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from pooldesk.backend import proc
from pooldesk.backend.broker.managed import ManagedBroker
from pooldesk.backend.workers.manager import WorkerInfo, WorkerManager
from pooldesk.backend.workers.records import RecordStore
from pooldesk.backend.workers.spec import WorkerSpec
from pooldesk.desktop import resources
from pooldesk.desktop.models.workers_model import (
    ACTIVE,
    CONCURRENCY,
    PROCESSED,
    STATE,
    WorkersModel,
)
from pooldesk.desktop.shell.root import PooldeskWindow as MainWindow
from pooldesk.desktop.views.resize_dialog import ResizeDialog
from tests.conftest import _kill_home

WAIT_MS = 40_000  # a shared 2-core machine: generous, never a sleep


def _window(qtbot: QtBot) -> MainWindow:
    window = MainWindow()
    qtbot.addWidget(window)
    window.setStyleSheet(resources.stylesheet())
    window.show()
    window.nav.setCurrentRow(window.pages.indexOf(window.workers_page))
    return window


def _state(model: WorkersModel, name: str, remote: bool = False) -> str:
    row = model.row_of(name, remote)
    return str(model.index(row, STATE).data()) if row >= 0 else ""


def _start(qtbot: QtBot, window: MainWindow, spec: WorkerSpec) -> WorkerInfo:
    window.startRequested.emit(spec)
    model = window.workers_page.model
    qtbot.waitUntil(lambda: _state(model, spec.name) == "online", timeout=WAIT_MS)
    info = model.worker(model.row_of(spec.name))
    assert info is not None
    return info


def _info(pool: str, concurrency: int, remote: bool = False, **kw: object) -> WorkerInfo:
    fields: dict[str, object] = {
        "hostname": "w@elsewhere" if remote else "w@here",
        "pid": 100,
        "pool": pool,
        "concurrency": concurrency,
        "queues": ["default"],
        "state": "online-remote" if remote else "online",
        "remote": remote,
    }
    fields.update(kw)
    return WorkerInfo(name="w", **fields)  # type: ignore[arg-type]


def test_resize_dialog_says_live_or_restart_and_refuses_bad_input(qtbot: QtBot) -> None:
    dialog = ResizeDialog(_info("prefork", 2))
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.ok_button.isEnabled()  # the current size: nothing to do
    dialog.concurrency_spin.setValue(4)
    assert dialog.ok_button.isEnabled() and dialog.problems_label.isHidden()
    assert "Live" in dialog.mode_label.text() and "pool_grow" in dialog.mode_label.text()
    dialog.concurrency_spin.setValue(1)
    assert "pool_shrink" in dialog.mode_label.text()
    dialog.concurrency_spin.setValue(0)
    assert not dialog.ok_button.isEnabled() and dialog.problems_label.isVisible()
    assert ">= 1" in dialog.problems_label.text()

    threads = ResizeDialog(_info("threads", 4))
    qtbot.addWidget(threads)
    threads.concurrency_spin.setValue(8)
    assert threads.ok_button.isEnabled() and "Needs a restart" in threads.mode_label.text()
    solo = ResizeDialog(_info("solo", 1))
    qtbot.addWidget(solo)
    solo.concurrency_spin.setValue(2)
    assert not solo.ok_button.isEnabled() and "solo" in solo.problems_label.text()
    remote = ResizeDialog(_info("threads", 4, remote=True))
    qtbot.addWidget(remote)
    remote.concurrency_spin.setValue(8)
    assert not remote.ok_button.isEnabled() and "own machine" in remote.problems_label.text()
    auto = ResizeDialog(_info("prefork", 2, autoscale=[4, 1]))
    qtbot.addWidget(auto)
    auto.concurrency_spin.setValue(3)
    assert not auto.ok_button.isEnabled() and "autoscales" in auto.problems_label.text()


def test_active_and_processed_come_from_events_then_inspect(qtbot: QtBot) -> None:
    model = WorkersModel()
    model.update([_info("gevent", 5, active=1, processed=10)])
    assert (model.index(0, ACTIVE).data(), model.index(0, PROCESSED).data()) == ("1", "10")
    model.update([_info("gevent", 5)])  # a refresh without inspect: the last numbers stay
    assert model.index(0, PROCESSED).data() == "10"
    with qtbot.waitSignal(model.dataChanged):
        model.set_counts({"w@here": (3, 1234)})  # live from events: preferred
    assert (model.index(0, ACTIVE).data(), model.index(0, PROCESSED).data()) == ("3", "1,234")
    model.update([_info("gevent", 5, state="stopped", pid=None)])
    assert model.index(0, ACTIVE).data() == "–"  # a stopped worker runs nothing


@pytest.mark.slow
def test_the_log_tab_tails_the_real_log_and_filters_it(home: Path, qtbot: QtBot) -> None:
    window = _window(qtbot)
    page = window.workers_page
    _start(qtbot, window, WorkerSpec("logw", "prefork", 1, ("default",)))
    # A line with the broker's password, as a careless task might print it: shown masked.
    password = (ManagedBroker().state() or pytest.fail("no broker")).password
    assert password
    with RecordStore().log_path("logw").open("a", encoding="utf-8") as fh:
        fh.write(f"task said: connecting with password={password} to the broker\n")

    assert page.select("logw")
    detail, log_tab = page.detail, page.detail.log_tab
    assert detail.heading.text().startswith("logw@")
    detail.show_tab("log")
    qtbot.waitUntil(lambda: any("password=" in line for line in log_tab.lines), timeout=WAIT_MS)
    lines = log_tab.lines
    assert any("ready" in line for line in lines)  # Celery's own lines, from the real file
    assert not any(password in line for line in lines)
    assert any("password=****" in line for line in lines)
    assert log_tab.count_label.text() == f"{len(lines)} lines"
    assert log_tab.follow_check.isChecked()
    bar = log_tab.view.verticalScrollBar()
    assert bar.value() == bar.maximum()

    log_tab.search_edit.setText("READY")  # case-insensitive
    matching = [line for line in lines if "ready" in line.lower()]
    assert 0 < len(matching) < len(lines)
    assert log_tab.count_label.text() == f"{len(matching)} of {len(lines)} lines match"
    assert log_tab.view.toPlainText().splitlines() == matching
    log_tab.search_edit.clear()
    assert log_tab.view.toPlainText().splitlines() == lines

    detail.show_tab("charts")  # the charts tab takes over; its worker is the selected one
    assert detail.charts_tab.charts.name == "logw"
    window.grab()  # draws the charts too: nothing raises
    assert not window.open_messages(), [m.text() for m in window.open_messages()]
    window.close()


@pytest.mark.slow
def test_resize_a_prefork_worker_from_the_dialog(home: Path, qtbot: QtBot) -> None:
    window = _window(qtbot)
    page, model = window.workers_page, window.workers_page.model
    info = _start(qtbot, window, WorkerSpec("rs", "prefork", 1, ("default",)))
    assert info.pid and len(psutil.Process(info.pid).children()) == 1
    assert page.select("rs") and page.resize_action.isEnabled()

    page.resize_action.trigger()
    dialog = page.resize_dialog
    assert dialog is not None and dialog.isVisible()
    with qtbot.assertNotEmitted(page.resizeRequested, wait=300):
        dialog.concurrency_spin.setValue(0)
        assert dialog.problems_label.isVisible() and not dialog.ok_button.isEnabled()
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
        dialog.accept()  # Enter in the dialog: refused as well
        assert dialog.isVisible()
    dialog.concurrency_spin.setValue(2)
    assert dialog.ok_button.isEnabled() and "Live" in dialog.mode_label.text()
    with qtbot.waitSignal(page.resizeRequested) as sent:
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert sent.args == ["rs", 2]

    row = model.row_of("rs")
    qtbot.waitUntil(lambda: model.index(row, CONCURRENCY).data() == "2", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: len(psutil.Process(info.pid).children()) == 2, timeout=WAIT_MS)
    qtbot.waitUntil(
        lambda: window.statusBar().currentMessage() == "rs resized to 2 (live).", timeout=WAIT_MS
    )
    assert not window.open_messages(), [m.text() for m in window.open_messages()]
    window.close()


@pytest.mark.slow
def test_a_remote_worker_is_resized_and_stopped_from_the_window(
    home: Path, broker: object, tmp_path: Path, qtbot: QtBot
) -> None:
    (tmp_path / "elsewhere").mkdir()
    elsewhere = WorkerManager(store=RecordStore(tmp_path / "elsewhere"))
    try:
        theirs = elsewhere.start(WorkerSpec("far", "gevent", 5, ("monitoring",)))
        assert theirs.state == "online"
        # Its pid as the broker reports it (its supervisor records it under its own home).
        found = {w.hostname: w for w in elsewhere.control.remote_workers(timeout=1.0)}
        pid = found[theirs.hostname].pid
        assert pid and proc.alive(pid)
        window = _window(qtbot)
        page, model = window.workers_page, window.workers_page.model
        qtbot.waitUntil(lambda: model.row_of("far", remote=True) >= 0, timeout=WAIT_MS)
        assert page.select("far", remote=True)
        assert page.stop_action.isEnabled() and page.resize_action.isEnabled()
        assert not page.restart_action.isEnabled() and not page.forget_action.isEnabled()
        assert "own machine" in page.restart_action.toolTip()
        page.detail.show_tab("log")
        assert "its log is there" in page.detail.log_tab.note.text()

        page.resize_action.trigger()
        dialog = page.resize_dialog
        assert dialog is not None
        dialog.concurrency_spin.setValue(8)
        assert "Live" in dialog.mode_label.text()
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
        row = model.row_of("far", remote=True)
        qtbot.waitUntil(lambda: model.index(row, CONCURRENCY).data() == "8", timeout=WAIT_MS)
        assert window.statusBar().currentMessage() == f"{theirs.hostname} resized to 8 (live)."
        found = {w.hostname: w for w in elsewhere.control.remote_workers(timeout=1.0)}
        assert found[theirs.hostname].concurrency == 8  # really grown, not only displayed

        # Stop asks first; Cancel sends nothing.
        with qtbot.assertNotEmitted(page.remoteStopRequested, wait=300):
            page.stop_action.trigger()
            box = page.confirm_box
            assert box is not None and theirs.hostname in box.text()
            box.button(QMessageBox.StandardButton.Cancel).click()
        assert proc.alive(pid)
        page.stop_action.trigger()
        box = page.confirm_box
        assert box is not None and page.confirm_stop_button is not None
        with qtbot.waitSignal(page.remoteStopRequested) as sent:
            page.confirm_stop_button.click()
        assert sent.args == [theirs.hostname]
        qtbot.waitUntil(lambda: not proc.alive(pid), timeout=WAIT_MS)
        qtbot.waitUntil(lambda: model.row_of("far", remote=True) < 0, timeout=WAIT_MS)
        assert not window.open_messages(), [m.text() for m in window.open_messages()]
        window.close()
    finally:
        elsewhere.close()
        _kill_home(tmp_path / "elsewhere")  # its process group, whatever happened above
