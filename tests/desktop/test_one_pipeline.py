"""The window and the CLI advise through one step (issue 21: the pipeline was written twice,
``telemetry/live.py`` for the CLI and the window's telemetry service, and could disagree).

The same snapshot goes to the window's telemetry service (as its inputs arrive: the worker
and batch services' signals) and to the CLI's ``LiveTelemetry`` built from the same settings;
both must return the same warnings and the same Pool fit table. Nothing is started: no
broker, no thread (the service's step runs in the test's thread)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from pooldesk.backend.broker.resolve import BrokerConfig
from pooldesk.backend.broker.status import BrokerStatus
from pooldesk.backend.settings import Settings
from pooldesk.backend.telemetry.live import LiveTelemetry
from pooldesk.backend.workers.manager import WorkerInfo
from pooldesk.desktop.services.telemetry import TelemetryController


class Catcher(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, list[Any]] = {}

    @Slot(list)
    def advice(self, advice: list[Any]) -> None:
        self.seen["advice"] = advice

    @Slot(list)
    def fit(self, fit: list[Any]) -> None:
        self.seen["fit"] = fit


def _worker(name: str, pool: str, concurrency: int, queue: str) -> WorkerInfo:
    return WorkerInfo(
        name, f"{name}@h", 4000, pool, concurrency, [queue], "online", False, active=0
    )


def test_the_window_and_the_cli_give_the_same_warnings_for_one_snapshot(
    qtbot: QtBot, home: Path
) -> None:
    # A declared nature in the settings: each client must read it the same way.
    settings = Settings(advisor={"queue_nature": {"reportes": "cpu"}, "raise_after": 3})
    workers = [
        _worker("rep", "gevent", 20, "reportes"),  # CPU-bound by the settings: the trap
        _worker("inv", "prefork", 8, "invoices"),  # more processes than cores
        _worker("mon", "gevent", 200, "monitoring"),
    ]
    broker = BrokerStatus("redis://localhost:6399/0", True, True, queues={"orphans": 12})

    window = TelemetryController(settings)  # not launched: its step runs here
    window.setWorkers(workers)
    window.setBroker(broker)
    window.setBatches([])
    catcher = Catcher()  # a receiver in this thread, as the window's pages are
    seen = catcher.seen
    window.adviceChanged.connect(catcher.advice)
    window.fitChanged.connect(catcher.fit)
    inputs = window.inputs()
    cli = LiveTelemetry(BrokerConfig("redis://localhost:6399/0", None, True), settings)
    try:
        for second in range(3):  # the settings' hysteresis: warnings show at the third run
            window.forward(window.step.run(inputs))
            QApplication.processEvents()  # its signals are queued (it lives in its thread)
            outcome = cli.step.run(inputs)
            assert ("advice" in seen) == (second == 2) == bool(outcome.advice)
    finally:
        cli.close()

    rules = sorted(a.rule for a in seen["advice"])
    assert {"cpu_under_gevent", "prefork_oversubscribed", "no_consumer"} <= set(rules), rules
    assert seen["advice"] == list(outcome.advice)
    assert seen["fit"] == list(outcome.fit)
