"""The first window: the start dialog's live checks, the workers table's in-place updates, the
broker line, and real round trips (managed broker, real workers started and stopped from the UI,
a crash at start explained with its log)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QApplication, QMainWindow, QPushButton
from pytestqt.qtbot import QtBot

from pooldesk.backend import proc
from pooldesk.backend.broker.managed import ManagedBroker
from pooldesk.backend.broker.status import BrokerStatus
from pooldesk.backend.workers.manager import WorkerInfo
from pooldesk.backend.workers.records import RecordStore
from pooldesk.backend.workers.spec import WorkerSpec
from pooldesk.desktop import resources
from pooldesk.desktop.formatting import broker_line
from pooldesk.desktop.models.workers_model import NAME, STATE, WorkersModel
from pooldesk.desktop.shell.closing import CloseFlow
from pooldesk.desktop.shell.root import PooldeskWindow
from pooldesk.desktop.views.start_dialog import StartDialog


def _info(name: str, state: str = "online", remote: bool = False, **kw: object) -> WorkerInfo:
    defaults: dict[str, object] = {
        "hostname": f"{name}@{'elsewhere' if remote else 'here'}",
        "pid": 100,
        "pool": "gevent",
        "concurrency": 10,
        "queues": ["default"],
        "state": state,
        "remote": remote,
    }
    defaults.update(kw)
    return WorkerInfo(name=name, **defaults)  # type: ignore[arg-type]


def test_start_dialog_checks_as_you_type(qtbot: QtBot) -> None:
    dialog = StartDialog()
    qtbot.addWidget(dialog)
    dialog.setStyleSheet(resources.stylesheet())  # a QSS parse problem would raise here
    dialog.show()
    assert dialog.name_edit.text() == "invoices-1"  # a free name is proposed
    assert dialog.ok_button.isEnabled()
    assert dialog.problems_label.isHidden()
    dialog.name_edit.clear()  # no name: Start is off and the dialog says why
    assert not dialog.ok_button.isEnabled()
    assert "type a name" in dialog.problems_label.text()
    assert "type a name" in dialog.ok_button.toolTip()

    qtbot.keyClicks(dialog.name_edit, "a b")
    dialog.queues_edit.setText("x y")
    assert not dialog.ok_button.isEnabled()
    assert dialog.problems_label.isVisible()
    text = dialog.problems_label.text()
    assert "name 'a b'" in text and "queue 'x y'" in text

    dialog.name_edit.setText("invoices-1")
    dialog.queues_edit.setText("invoices, default")
    assert dialog.ok_button.isEnabled()
    assert dialog.problems_label.isHidden()
    spec = dialog.spec()
    assert (spec.name, spec.queues) == ("invoices-1", ("invoices", "default"))


def test_start_dialog_pool_sets_default_concurrency_until_edited(qtbot: QtBot) -> None:
    dialog = StartDialog()
    qtbot.addWidget(dialog)
    dialog.pool_combo.setCurrentText("gevent")
    assert dialog.concurrency_spin.value() == 100
    dialog.pool_combo.setCurrentText("threads")
    assert dialog.concurrency_spin.value() == 10
    dialog.concurrency_spin.setValue(7)
    dialog.pool_combo.setCurrentText("gevent")
    assert dialog.concurrency_spin.value() == 7  # the user's number wins
    dialog.pool_combo.setCurrentText("solo")
    dialog.name_edit.setText("w1")
    assert not dialog.ok_button.isEnabled()  # solo × 7 is refused by the spec
    assert "solo" in dialog.problems_label.text()


def test_model_updates_rows_in_place(qtbot: QtBot) -> None:
    model = WorkersModel()
    model.update([_info("a"), _info("b"), _info("r", "online-remote", remote=True)])
    assert model.rowCount() == 3
    assert model.index(2, NAME).data() == "r (remote)"
    assert model.index(2, NAME).data(Qt.ItemDataRole.FontRole).italic()
    with (
        qtbot.assertNotEmitted(model.modelReset),
        qtbot.assertNotEmitted(model.rowsRemoved),
        qtbot.waitSignal(model.dataChanged) as changed,
    ):
        model.update([_info("a"), _info("b", "stopping"), _info("r", "online-remote", remote=True)])
    assert changed.args[0].row() == 1
    assert model.index(1, STATE).data() == "stopping"
    model.update([_info("b", "stopped", pid=None), _info("c", "starting")])
    assert [model.index(r, NAME).data() for r in range(model.rowCount())] == ["b", "c"]
    assert model.index(0, 5).data() == "–"


def test_broker_line_shows_backlog_and_failures() -> None:
    url = "redis://:****@127.0.0.1:6399/0"
    up = BrokerStatus(url=url, managed=True, up=True, memory_bytes=1_258_291, queues={})
    up.queues = {"invoices": 1204, "monitoring": 0, "default": 3}
    assert (
        broker_line(up)
        == f"Broker: managed {url} — up, 1.2 MiB, queues: invoices 1,204 · default 3"
    )
    up.queues = {"invoices": 0, "default": 0}
    assert broker_line(up).endswith("— up, 1.2 MiB, queues empty")
    down = BrokerStatus(url=url, managed=False, up=False, error=f"broker unreachable at {url}: x")
    assert broker_line(down) == f"Broker unreachable at {url}: x"
    down.error = "managed broker has never been started"
    assert broker_line(down) == "Broker unreachable: managed broker has never been started"


@pytest.mark.slow
def test_start_and_stop_a_worker_from_the_window(home: Path, qtbot: QtBot) -> None:
    window = PooldeskWindow()
    qtbot.addWidget(window)
    window.setStyleSheet(resources.stylesheet())
    window.show()
    page, model = window.workers_page, window.workers_page.model
    window.nav.setCurrentRow(window.pages.indexOf(page))  # the toolbar shows this page's actions

    qtbot.waitUntil(lambda: "— up" in window.broker_label.text(), timeout=20_000)
    state = ManagedBroker().state()
    assert state is not None and state.password
    assert "Broker: managed redis://:****@127.0.0.1:" in window.broker_label.text()

    # Start through the UI: the toolbar's Start… opens the dialog; fill it in, press Start.
    qtbot.mouseClick(window.toolbar.widgetForAction(page.start_action), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.start_dialog is not None and page.start_dialog.isVisible())
    dialog = page.start_dialog
    assert dialog is not None
    dialog.name_edit.clear()  # a free name is proposed; this test names its own
    qtbot.keyClicks(dialog.name_edit, "ui1")
    dialog.pool_combo.setCurrentText("gevent")
    dialog.concurrency_spin.setValue(5)
    assert dialog.ok_button.isEnabled()
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)

    def state_of(name: str) -> str | None:
        row = model.row_of(name)
        return model.index(row, STATE).data() if row >= 0 else None

    qtbot.waitUntil(lambda: state_of("ui1") == "online", timeout=30_000)
    info = model.worker(model.row_of("ui1"))
    assert info is not None and info.pid and proc.alive(info.pid)
    assert (info.pool, info.concurrency) == ("gevent", 5)

    assert not page.stop_action.isEnabled()  # nothing selected yet
    assert page.select("ui1")
    assert page.stop_action.isEnabled() and page.restart_action.isEnabled()
    assert not page.forget_action.isEnabled()
    qtbot.mouseClick(window.toolbar.widgetForAction(page.stop_action), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: state_of("ui1") == "stopped", timeout=30_000)
    assert page.selected_worker() is not None  # the selection survived the refreshes
    assert page.forget_action.isEnabled() and not page.stop_action.isEnabled()

    shown = " ".join(
        [
            window.broker_label.text(),
            window.broker_label.toolTip(),
            window.statusBar().currentMessage(),
        ]
    )
    assert state.password not in shown
    assert not window.open_messages(), [m.text() for m in window.open_messages()]

    window.close()
    assert not window.controller.is_running()
    record = RecordStore().load("ui1")
    assert record is not None and record.supervisor_pid
    assert not proc.alive(info.pid) and not proc.alive(record.supervisor_pid)
    QApplication.processEvents()


@pytest.mark.slow
def test_a_worker_that_crashes_at_start_is_explained(home: Path, qtbot: QtBot) -> None:
    window = PooldeskWindow()
    qtbot.addWidget(window)
    window.show()
    bad = WorkerSpec("bad", "solo", 1, ("default",), app="no_such_module:app")
    window.startRequested.emit(bad)  # what the dialog's Start does, with an app it can't offer
    qtbot.waitUntil(lambda: bool(window.open_messages()), timeout=30_000)
    box = window.open_messages()[0]
    assert box.text() == "Could not start bad"
    assert "crashed while starting (exit code" in box.informativeText()
    assert "ModuleNotFoundError" in box.informativeText()  # the reason, not the log's last line
    assert "no_such_module" in box.detailedText()
    # The row follows within one refresh of the worker list (the message comes from the start's
    # own report; asserting at once raced the next poll on a loaded CI machine).
    qtbot.waitUntil(
        lambda: window.workers_page.model.index(0, STATE).data() == "crashed", timeout=10_000
    )
    box.close()
    window.close()
    assert not window.controller.is_running()


def test_start_dialog_on_windows_greys_out_prefork_and_says_why(qtbot: QtBot) -> None:
    dialog = StartDialog(platform="win32")
    qtbot.addWidget(dialog)
    dialog.show()
    combo = dialog.pool_combo
    row = combo.findText("prefork")
    assert not combo.model().item(row).isEnabled()  # type: ignore[attr-defined]
    assert "fork()" in combo.itemData(row, Qt.ItemDataRole.ToolTipRole)
    assert combo.currentText() != "prefork"  # the default is a pool that runs there
    assert "solo" in dialog.pool_hint.text() and "Windows" in dialog.pool_hint.text()
    dialog.name_edit.setText("invoices-1")
    assert dialog.ok_button.isEnabled()
    # Even if prefork were forced in (an old preset), the spec refuses it with the reason.
    combo.setCurrentIndex(row)  # code may select a disabled item; a user cannot
    assert combo.currentText() == "prefork"
    assert not dialog.ok_button.isEnabled()
    assert "fork()" in dialog.problems_label.text()


def test_default_presets_on_windows_use_solo_for_cpu_bound_queues() -> None:
    from pooldesk.backend.workers import presets as presets_mod

    shapes = {p["name"]: p["pool"] for p in presets_mod.default_presets("win32")}
    assert shapes["Invoices"] == "solo" and shapes["Monitoring"] == "gevent"
    assert all(presets_mod.problems(p, "win32") == [] for p in presets_mod.default_presets("win32"))
    linux = presets_mod.default_presets("linux")
    assert presets_mod.problems(linux[0], "win32")  # a prefork preset is explained there


@pytest.mark.slow
def test_a_stop_shows_its_wait_and_stop_now_puts_the_running_task_back(
    home: Path, qtbot: QtBot
) -> None:
    """A warm stop waits for a long task without freezing anything; "Stop now" cuts the wait
    and the task goes back to the queue (acks_late), so nothing is lost."""
    import redis

    from pooldesk.backend.broker import current_config
    from pooldesk.backend.celery_app import make_app

    window = PooldeskWindow()
    qtbot.addWidget(window)
    window.show()
    page, model = window.workers_page, window.workers_page.model
    window.nav.setCurrentRow(window.pages.indexOf(page))
    window.startRequested.emit(WorkerSpec("slow", "prefork", 1, ("slowq",)))

    def state_of(name: str) -> str:
        row = model.row_of(name)
        return str(model.index(row, STATE).data()) if row >= 0 else ""

    qtbot.waitUntil(lambda: state_of("slow") == "online", timeout=30_000)
    config = current_config()
    app = make_app(config.broker_url, config.result_backend, include=[])
    app.send_task("pooldesk.sleep", args=[60], queue="slowq")
    qtbot.waitUntil(
        lambda: bool((app.control.inspect(timeout=0.5).active() or {}).get("slow@" + _host())),
        timeout=20_000,
    )

    assert page.select("slow") and not page.stop_now_action.isEnabled()
    page.stop_action.trigger()
    qtbot.waitUntil(
        lambda: state_of("slow").startswith("stopping: waiting for tasks, "), timeout=15_000
    )
    first = state_of("slow")
    # The controller is not blocked by the wait: the table keeps counting the seconds.
    qtbot.waitUntil(lambda: state_of("slow") not in (first, "stopped"), timeout=10_000)
    assert state_of("slow").startswith("stopping: waiting for tasks, ")
    assert page.stop_now_action.isEnabled()

    page.stop_now_action.trigger()
    qtbot.waitUntil(lambda: state_of("slow") == "stopped", timeout=20_000)
    assert "went back to the queue" in window.statusBar().currentMessage()
    assert not window.open_messages(), [m.text() for m in window.open_messages()]
    client = redis.Redis.from_url(config.broker_url)
    qtbot.waitUntil(lambda: client.llen("slowq") == 1, timeout=20_000)  # not lost, not doubled
    client.close()
    app.close()
    window.close()


def _host() -> str:
    import socket

    return socket.gethostname()


@pytest.mark.slow
def test_closing_with_stop_workers_offers_stop_now_for_a_long_task(
    home: Path, qtbot: QtBot
) -> None:
    """Quitting with "Stop workers" waits for running tasks; the progress dialog's Stop now
    cuts the wait, the task returns to its queue and the window closes."""
    import redis

    from pooldesk.backend.broker import current_config
    from pooldesk.backend.celery_app import make_app

    window = PooldeskWindow()
    qtbot.addWidget(window)
    window.show()
    model = window.workers_page.model
    window.startRequested.emit(WorkerSpec("busy", "prefork", 1, ("busyq",)))
    qtbot.waitUntil(
        lambda: (
            model.row_of("busy") >= 0
            and model.index(model.row_of("busy"), STATE).data() == "online"
        ),
        timeout=30_000,
    )
    config = current_config()
    app = make_app(config.broker_url, config.result_backend, include=[])
    app.send_task("pooldesk.sleep", args=[60], queue="busyq")
    qtbot.waitUntil(
        lambda: bool((app.control.inspect(timeout=0.5).active() or {}).get("busy@" + _host())),
        timeout=20_000,
    )

    window.closing.answer = "stop"
    assert not window.close()  # still open: the worker is finishing its task
    qtbot.waitUntil(lambda: window.closing.progress is not None, timeout=5_000)
    progress = window.closing.progress
    assert progress is not None
    button = progress.findChild(QPushButton)
    assert button is not None and button.text() == "Stop &now"
    qtbot.wait(1500)
    assert window.isVisible() and window.closing.progress is progress  # still waiting
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.controller.is_running(), timeout=30_000)
    assert not window.isVisible()
    client = redis.Redis.from_url(config.broker_url)
    qtbot.waitUntil(lambda: client.llen("busyq") == 1, timeout=20_000)  # back in its queue
    client.close()
    app.close()


# -- the close flow, with a fake worker service ---------------------------------------------
class _FakeWorkerService(QObject):
    stop = Signal(str)
    stopNow = Signal(str)
    operationFinished = Signal(str, str, bool, str)


class _GuardedWindow(QMainWindow):
    """Closes only when the flow lets it, as MainWindow.closeEvent does."""

    flow: CloseFlow | None = None

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.flow is not None and not self.flow.closed and not self.flow.may_close():
            event.ignore()
            return
        super().closeEvent(event)


def _close_flow(
    qtbot: QtBot, running: list[str], answer: str
) -> tuple[_GuardedWindow, _FakeWorkerService, dict[str, list[object]]]:
    window = _GuardedWindow()
    qtbot.addWidget(window)
    window.show()
    service = _FakeWorkerService(window)
    seen: dict[str, list[object]] = {"stop": [], "stop now": [], "shutdown": []}
    service.stop.connect(seen["stop"].append)
    service.stopNow.connect(seen["stop now"].append)
    window.flow = CloseFlow(
        window,
        lambda: list(running),
        service.stop,
        service.stopNow,
        service.operationFinished,
        lambda: seen["shutdown"].append(True),
    )
    window.flow.answer = answer
    return window, service, seen


def test_closing_stops_the_workers_first_and_stop_now_cuts_the_wait(qtbot: QtBot) -> None:
    window, service, seen = _close_flow(qtbot, ["b", "a"], "stop")
    flow = window.flow
    assert flow is not None
    assert not window.close()  # still open: the workers are stopping
    assert seen["stop"] == ["b", "a"] and seen["shutdown"] == []
    progress = flow.progress
    assert progress is not None and progress.isVisible()
    assert not window.close()  # asked again while stopping: still waiting, nothing asked twice
    assert seen["stop"] == ["b", "a"]

    button = progress.findChild(QPushButton)
    assert button is not None and button.text() == "Stop &now"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert seen["stop now"] == ["a", "b"] and not button.isEnabled()

    service.operationFinished.emit("stop", "a", True, "a stopped.")
    service.operationFinished.emit("start", "b", True, "")  # not the stop it waits for
    assert window.isVisible() and progress.value() == 1 and "Stopping b" in progress.labelText()
    service.operationFinished.emit("stop", "b", False, "b did not stop")  # logged, still closes
    assert not window.isVisible() and flow.closed and seen["shutdown"] == [True]
    assert flow.progress is None


def test_the_close_question_cancel_keeps_the_window_and_leave_closes(qtbot: QtBot) -> None:
    window, _service, seen = _close_flow(qtbot, ["a"], "ask")
    flow = window.flow
    assert flow is not None
    assert not window.close()
    qtbot.waitUntil(lambda: flow.box is not None and flow.box.isVisible())
    assert flow.box is not None and "1 worker still running: a." in flow.box.text()
    qtbot.mouseClick(flow.question_button("cancel"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: flow.box is None)
    assert window.isVisible() and seen["shutdown"] == []

    assert not window.close()
    qtbot.waitUntil(lambda: flow.box is not None)
    qtbot.mouseClick(flow.question_button("leave"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.isVisible())
    assert seen["stop"] == [] and seen["shutdown"] == [True]


def test_closing_with_nothing_running_asks_nothing(qtbot: QtBot) -> None:
    window, _service, seen = _close_flow(qtbot, [], "ask")
    assert window.close()
    assert window.flow is not None and window.flow.box is None
    assert seen["shutdown"] == [True]
