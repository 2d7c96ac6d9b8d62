"""The window serves Prometheus metrics when asked (File → Serve Prometheus metrics)."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from pooldesk.backend import settings as settings_mod
from pooldesk.desktop.shell.root import PooldeskWindow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def _served(url: str) -> str:
    """The page, or "" while nothing listens yet (the telemetry thread starts it)."""
    try:
        return _get(url)
    except urllib.error.URLError:
        return ""


@pytest.mark.slow
def test_the_window_serves_metrics_and_the_toggle_stops_it(home: Path, qtbot: QtBot) -> None:
    port = _free_port()
    loaded = settings_mod.load(env=False).settings
    loaded.metrics_port = port
    settings_mod.save(loaded)
    url = f"http://127.0.0.1:{port}/metrics"

    window = PooldeskWindow()
    qtbot.addWidget(window)
    window.show()
    action = window.metrics_toggle.action
    assert action.isChecked() and f"127.0.0.1:{port}" in action.text()
    # Served from the telemetry thread's own measurements: the broker and worker lines appear.
    qtbot.waitUntil(lambda: "pooldesk_broker_up 1.0" in _served(url), timeout=30_000)

    with qtbot.waitSignal(window.telemetry.metricsServing, timeout=10_000):
        action.trigger()  # off
    assert settings_mod.load(env=False).settings.metrics_port == 0
    with pytest.raises(urllib.error.URLError):
        _get(url)
    # The status bar hears the same signal through its own queued call: wait for it too.
    qtbot.waitUntil(lambda: window.statusBar().currentMessage() == "Prometheus metrics stopped")

    with qtbot.waitSignal(window.telemetry.metricsServing, timeout=10_000):
        action.trigger()  # on again, on the port it had
    assert settings_mod.load(env=False).settings.metrics_port == port
    assert "celery_task_succeeded_total" in _get(url)
    served = f"Serving Prometheus metrics at {url}"
    qtbot.waitUntil(lambda: window.statusBar().currentMessage() == served)
