"""One real fleet agent for the window's tests (``pooldesk agent serve``, host ``host-x``, its
own POOLDESK_HOME) on the panel's managed broker, with the fleet key outside the panel's home
so a test can go without it; and the window those tests open. Shared by the fleet window tests
(import ``fleet_fixture`` into the test module: the module-scoped fixture ``fleet``)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from pooldesk.backend.fleet.key import KEY_ENV
from pooldesk.desktop import resources
from pooldesk.desktop.shell.root import PooldeskWindow
from tests.conftest import POOLDESK_ENV, _kill_home

HOST_X = "host-x"
WAIT_MS = 60_000  # a shared 2-core machine: generous, never a sleep


class Fleet:
    def __init__(self, root: Path, key: Path) -> None:
        self.root, self.key = root, key
        self.agent: subprocess.Popen[bytes] | None = None

    def log(self) -> str:
        return (self.root / "agent.log").read_text(errors="replace")


@pytest.fixture(scope="module", name="fleet")
def fleet_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """The panel's home with its managed broker, a key outside it (so a test can go without),
    and one agent for the whole module."""
    root = tmp_path_factory.mktemp("fleet")
    with pytest.MonkeyPatch.context() as mp:
        for var in (*POOLDESK_ENV, KEY_ENV, "POOLDESK_FLEET_HOST"):
            mp.delenv(var, raising=False)
        mp.setenv("POOLDESK_HOME", str(root / "panel"))
        from pooldesk.backend.broker import ensure_broker
        from pooldesk.backend.fleet.key import init_key

        url = ensure_broker().broker_url
        assert url
        fleet = Fleet(root, init_key(root / "fleet.key"))
        env = {
            **os.environ,
            "POOLDESK_HOME": str(root / HOST_X),
            "POOLDESK_BROKER_URL": url,
            KEY_ENV: str(fleet.key),
        }
        command = [sys.executable, "-m", "pooldesk.backend", "agent", "serve"]
        with open(root / "agent.log", "ab") as log:
            fleet.agent = subprocess.Popen(
                [*command, "--host-name", HOST_X, "--sample-interval", "0.5"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            yield fleet
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(fleet.agent.pid, signal.SIGTERM)
            try:
                fleet.agent.wait(timeout=15)
            except subprocess.TimeoutExpired:
                fleet.agent.kill()
                fleet.agent.wait(timeout=5)
            _kill_home(root / HOST_X)
            _kill_home(root / "panel")


def open_window(qtbot: QtBot) -> PooldeskWindow:
    window = PooldeskWindow()
    qtbot.addWidget(window)
    window.setStyleSheet(resources.stylesheet())
    window.show()
    window.nav.setCurrentRow(window.pages.indexOf(window.workers_page))
    return window


def host_heard(qtbot: QtBot, window: PooldeskWindow) -> None:
    page = window.workers_page
    qtbot.waitUntil(lambda: page.host_filter.findData(HOST_X) >= 0, timeout=WAIT_MS)
    assert not page.filter_bar.isHidden()
