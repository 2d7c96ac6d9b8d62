"""Issue 20's last step, in the window: a worker on another host, of a user's project on a broker
of its own (one the panel never listens to), shows up measured in Pool fit — the gevent trap,
named on its host — and its Fix… runs through that host's agent, which restarts it on prefork.
The agent relays the worker's reports (``backend/fleet/relay.py``); nothing here is faked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from pooldesk.desktop import resources
from pooldesk.desktop.models.workers_model import POOL, STATE
from pooldesk.desktop.shell.root import PooldeskWindow
from pooldesk.desktop.views.pool_fit import FIX_COLUMN
from tests.integration.fleet_agents import (  # noqa: F401
    OWN_HOST,
    OWN_QUEUE,
    Fleet,
    cli_json,
    own_broker_fleet_fixture,
    start_trapped_worker,
)

pytestmark = pytest.mark.slow
WAIT_MS = 60_000  # a shared 2-core machine: generous, never a sleep
NAME = "shopd"


@pytest.fixture
def window(qtbot: QtBot, own_broker_fleet: tuple[Fleet, str]) -> Iterator[PooldeskWindow]:
    fleet, own = own_broker_fleet
    start_trapped_worker(fleet, own, NAME)  # before the window: the CLI blocks this thread
    window = PooldeskWindow()
    qtbot.addWidget(window)
    window.setStyleSheet(resources.stylesheet())
    window.show()
    yield window
    window.close()
    fleet.cli("worker", "stop", NAME, "--host", OWN_HOST)


def _fit_row(window: PooldeskWindow) -> int:
    table = window.overview_page.pool_fit.table
    queues = [table.item(r, 0).text() if table.item(r, 0) else "" for r in range(table.rowCount())]
    return queues.index(OWN_QUEUE) if OWN_QUEUE in queues else -1


def _cell(window: PooldeskWindow, column: int) -> str:
    model = window.workers_page.model
    row = model.row_of(NAME, host=OWN_HOST)
    return str(model.index(row, column).data()) if row >= 0 else ""


def test_a_host_worker_on_its_own_broker_is_measured_and_fixed_through_its_agent(
    qtbot: QtBot, window: PooldeskWindow
) -> None:
    fit = window.overview_page.pool_fit
    qtbot.waitUntil(lambda: _fit_row(window) >= 0, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: fit.rows[_fit_row(window)].verdict == "trap", timeout=WAIT_MS)
    row = fit.rows[_fit_row(window)]
    assert row.workers == [f"{NAME} on {OWN_HOST}: gevent × 8"] and row.nature == "blocking"
    assert row.fix is not None and row.fix.params["pool"] == "prefork"

    button = fit.table.cellWidget(_fit_row(window), FIX_COLUMN)
    with qtbot.waitSignal(window.fixes.hostFix, timeout=WAIT_MS) as routed:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        box = fit.confirm_box
        assert box is not None and "prefork" in box.text()
        qtbot.mouseClick(box.button(QMessageBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    assert routed.args[0] == OWN_HOST  # its agent applies it
    qtbot.waitUntil(
        lambda: _cell(window, POOL) == "prefork" and _cell(window, STATE) == "online",
        timeout=WAIT_MS,
    )
    assert not window.open_messages(), [m.text() for m in window.open_messages()]
