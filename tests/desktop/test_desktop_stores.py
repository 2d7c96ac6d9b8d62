"""The window and the history files (issue 24): quitting with "stop the workers" leaves nothing
that only they needed (the task-history recorder their start brought up stops with the window),
and a file set aside by any process is said once. The whole window, a real worker, the real
recorder."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from pooldesk.backend import paths, proc
from pooldesk.backend.setaside import set_aside, take
from pooldesk.backend.taskhistory import service
from pooldesk.backend.workers.spec import WorkerSpec
from pooldesk.desktop import resources
from pooldesk.desktop.models.workers_model import STATE
from pooldesk.desktop.shell.root import PooldeskWindow


def _state_of(window: PooldeskWindow, name: str) -> str | None:
    model = window.workers_page.model
    row = model.row_of(name)
    return model.index(row, STATE).data() if row >= 0 else None


@pytest.mark.slow
def test_quitting_with_stop_workers_stops_their_recorder(home: Path, qtbot: QtBot) -> None:
    window = PooldeskWindow()
    qtbot.addWidget(window)
    window.setStyleSheet(resources.stylesheet())
    window.show()
    window.startRequested.emit(WorkerSpec("quitter", "solo", 1, ("default",)))
    qtbot.waitUntil(lambda: _state_of(window, "quitter") == "online", timeout=40_000)
    qtbot.waitUntil(lambda: any(r.running for r in service.recorders()), timeout=20_000)
    [recorder] = service.recorders()
    assert recorder.supervisor_pid

    window.closing.answer = "stop"
    window.close()
    qtbot.waitUntil(lambda: not window.controller.is_running(), timeout=60_000)
    assert not window.isVisible()
    assert not proc.alive(recorder.supervisor_pid)  # gone with the window, not 300 s later
    assert not service.info(recorder.key).running
    QApplication.processEvents()


@pytest.mark.slow
def test_a_file_set_aside_by_a_background_process_is_said_once(home: Path, qtbot: QtBot) -> None:
    """The recorder (another process) sets a damaged tasks.db aside while the window is open:
    the window says so within a second or two, once."""
    window = PooldeskWindow()
    qtbot.addWidget(window)
    window.show()
    damaged = paths.home() / "elsewhere.db"  # not a file the window itself opens
    damaged.write_bytes(b"not a database" * 100)
    set_aside(damaged, "Task history", "file is not a database", then="starting a new history")
    qtbot.waitUntil(lambda: bool(window.open_messages()), timeout=15_000)
    [box] = window.open_messages()
    assert "kept as elsewhere.db.corrupt-" in box.informativeText() + box.text()
    assert take(paths.home()) == []  # taken: no other front end says it again
    box.close()
    window.close()
    QApplication.processEvents()
