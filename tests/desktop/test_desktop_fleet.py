"""The fleet in the window (issue 20): a real agent process (``pooldesk agent serve``, its own
POOLDESK_HOME and host name) on the panel's managed broker; the real window lists the host in
the Workers filter and the Overview's machine switch, starts a worker there from the Start
dialog (Host column: the agent's host), stops it; without the fleet key commands are refused
with the key's message and the dialog greys the host; a preset given the host in Settings
starts there from Start from preset."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from pooldesk.backend.advisor.model import Fix
from pooldesk.backend.fleet.key import KEY_ENV, NO_KEY
from pooldesk.desktop.models.workers_model import CONCURRENCY, HOST, POOL, STATE
from pooldesk.desktop.shell.root import PooldeskWindow
from pooldesk.desktop.views.settings.presets import HOST as HOST_COLUMN
from tests.desktop.fleet_agent import (  # noqa: F401 (fleet_fixture: the module's agent)
    HOST_X,
    WAIT_MS,
    Fleet,
    fleet_fixture,
    host_heard,
    open_window,
)

pytestmark = pytest.mark.slow


def _cell(window: PooldeskWindow, name: str, column: int) -> str:
    model = window.workers_page.model
    row = model.row_of(name, host=HOST_X)
    return str(model.index(row, column).data()) if row >= 0 else ""


def _preset_menus(window: PooldeskWindow) -> list[str]:
    """The submenus of Start from preset ("On HOST": every preset on that host)."""
    menu = window.workers_page.presets_menu
    return [a.text() for a in menu.actions() if a.menu() is not None]


def test_a_host_is_charted_and_runs_a_worker_started_from_the_dialog(
    fleet: Fleet, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, str(fleet.key))
    window = open_window(qtbot)
    page, overview = window.workers_page, window.overview_page
    host_heard(qtbot, window)
    qtbot.waitUntil(lambda: page.fleet_block == "", timeout=WAIT_MS)
    assert not page.fleet_note.text()
    qtbot.waitUntil(lambda: "On host-x" in _preset_menus(window), timeout=WAIT_MS)

    # The Overview's machine charts switch to the host's samples.
    assert overview.host_combo.isVisibleTo(overview) and overview.select_machine(HOST_X)
    assert overview.cpu_chart.title_label.text() == "System CPU · host-x"
    qtbot.waitUntil(lambda: bool(overview._machine_history()("system", 60)), timeout=WAIT_MS)
    overview.refresh_charts()
    assert overview.cpu_chart.curve("total").getData()[0] is not None
    assert overview.cpu_chart.has_curve("cpu0")
    assert overview.select_machine("")  # back to this machine
    assert overview.cpu_chart.title_label.text() == "System CPU"

    # Start on host-x from the Start dialog.
    page.open_start_dialog()
    dialog = page.start_dialog
    assert dialog is not None and dialog.host_combo.isVisibleTo(dialog)
    index = dialog.host_combo.findData(HOST_X)
    assert dialog.host_combo.model().item(index).isEnabled()
    dialog.host_combo.setCurrentIndex(index)
    dialog.pool_combo.setCurrentText("solo")
    dialog.queues_edit.setText("fleet-q")
    dialog.name_edit.setText("fx1")
    assert dialog.ok_button.isEnabled(), dialog.problems()
    with qtbot.waitSignal(page.hostStartRequested) as sent:
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert sent.args[0] == HOST_X and sent.args[1].name == "fx1"
    qtbot.waitUntil(lambda: _cell(window, "fx1", STATE) == "online", timeout=WAIT_MS)
    assert _cell(window, "fx1", HOST) == HOST_X
    assert (fleet.root / HOST_X / "workers" / "fx1.json").exists()  # on the host, not here
    assert not (fleet.root / "panel" / "workers" / "fx1.json").exists()
    qtbot.waitUntil(
        lambda: (
            "host-x" in window.statusBar().currentMessage()
            or _cell(window, "fx1", STATE) == "online"
        ),
        timeout=WAIT_MS,
    )

    # The filter: the host shows it, this machine does not.
    row = page.model.row_of("fx1", host=HOST_X)
    assert page.set_host_filter(HOST_X) and not page.table.isRowHidden(row)
    assert page.set_host_filter("local") and page.table.isRowHidden(row)
    assert page.set_host_filter(None) and not page.table.isRowHidden(row)

    # A fix for a worker on host-x is applied by its agent (here: restart as threads × 2).
    fix = Fix("restart_worker", {"name": "fx1", "pool": "threads", "concurrency": 2}, "Restart")
    with qtbot.waitSignal(window.fixes.hostFix) as routed:
        overview.fixRequested.emit(fix)
    assert routed.args[0] == HOST_X
    qtbot.waitUntil(
        lambda: _cell(window, "fx1", POOL) == "threads" and _cell(window, "fx1", STATE) == "online",
        timeout=WAIT_MS,
    )

    # Its log, read by its agent; a resize from the dialog, run there.
    assert page.select("fx1") is False  # not a local worker
    row = page.model.row_of("fx1", host=HOST_X)
    page.table.selectRow(row)
    page.detail.show_tab("log")
    qtbot.waitUntil(
        lambda: any("ready" in line for line in page.detail.log_tab.lines), timeout=WAIT_MS
    )
    page.resize_action.trigger()
    resize = page.resize_dialog
    assert resize is not None and "(on host-x)" in resize.worker_label.text()
    resize.concurrency_spin.setValue(3)
    with qtbot.waitSignal(page.hostResizeRequested) as asked:
        qtbot.mouseClick(resize.ok_button, Qt.MouseButton.LeftButton)
    assert asked.args == [HOST_X, "fx1", 3]
    resized = (CONCURRENCY, "3"), (STATE, "online")
    qtbot.waitUntil(lambda: all(_cell(window, "fx1", c) == v for c, v in resized), timeout=WAIT_MS)

    # Stop it through its agent.
    row = page.model.row_of("fx1", host=HOST_X)
    page.table.selectRow(row)
    assert page.stop_action.isEnabled() and page.restart_action.isEnabled()
    page.stop_action.trigger()
    qtbot.waitUntil(lambda: _cell(window, "fx1", STATE) == "stopped", timeout=WAIT_MS)
    assert not window.open_messages(), [m.text() for m in window.open_messages()]
    window.close()


def test_without_the_key_the_panel_watches_and_commands_are_refused(
    fleet: Fleet, qtbot: QtBot
) -> None:
    window = open_window(qtbot)
    page = window.workers_page
    host_heard(qtbot, window)
    qtbot.waitUntil(lambda: page.fleet_block == NO_KEY, timeout=WAIT_MS)
    assert page.fleet_note.text().startswith("Watch only: no fleet key")
    assert _preset_menus(window) == []  # no host to start a preset on

    page.open_start_dialog()
    dialog = page.start_dialog
    assert dialog is not None
    index = dialog.host_combo.findData(HOST_X)
    assert not dialog.host_combo.model().item(index).isEnabled()
    assert "no fleet key" in dialog.host_combo.itemData(index, Qt.ItemDataRole.ToolTipRole)
    dialog.reject()

    with qtbot.waitSignal(window.fleet.operationFinished, timeout=WAIT_MS) as done:
        page.hostStopRequested.emit(HOST_X, "fx1")
    op, name, ok, message = done.args
    assert (op, name, ok) == ("stop", "fx1", False)
    assert message.startswith("Not sent: No fleet key: this panel can watch hosts")
    qtbot.waitUntil(lambda: bool(window.open_messages()), timeout=WAIT_MS)
    window.close()


def test_a_preset_given_a_host_in_settings_starts_there_from_the_menu(
    fleet: Fleet, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings ▸ Presets offers the host the fleet service heard; saved, Start from preset
    starts the preset on it (pre-selected) through its agent. The file is put back after."""
    from pooldesk.backend import paths

    monkeypatch.setenv(KEY_ENV, str(fleet.key))
    window = open_window(qtbot)
    page, section = window.workers_page, window.settings_page.presets_section
    host_heard(qtbot, window)
    qtbot.waitUntil(lambda: page.fleet_block == "", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: section._hosts != [], timeout=WAIT_MS)
    host = section.table.cellWidget(0, HOST_COLUMN)
    assert not section.table.isColumnHidden(HOST_COLUMN) and host.findData(HOST_X) >= 0
    before = paths.settings_file().read_bytes() if paths.settings_file().exists() else None
    try:
        section.table.cellWidget(0, 1).setCurrentText("solo")
        section.table.item(0, 2).setText("1")
        section.table.item(0, 3).setText("preset-q")
        host.setCurrentIndex(host.findData(HOST_X))
        assert window.settings_page.save(), section.error_label.text()
        first = page.presets_menu.actions()[0]
        assert first.text() == "Invoices: solo × 1 on preset-q on host-x" and first.isEnabled()
        with qtbot.waitSignal(page.hostStartRequested) as sent:
            first.trigger()
        assert sent.args[0] == HOST_X and sent.args[1].name == "invoices-1"
        qtbot.waitUntil(lambda: _cell(window, "invoices-1", STATE) == "online", timeout=WAIT_MS)
        assert (fleet.root / HOST_X / "workers" / "invoices-1.json").exists()
        page.hostStopRequested.emit(HOST_X, "invoices-1")
        qtbot.waitUntil(lambda: _cell(window, "invoices-1", STATE) == "stopped", timeout=WAIT_MS)
    finally:
        if before is None:
            paths.settings_file().unlink(missing_ok=True)
        else:
            paths.settings_file().write_bytes(before)
    window.close()
