"""File → Serve Prometheus metrics: a checkable action bound to ``settings.metrics_port``.

The endpoint itself lives in the telemetry thread (it serves what that thread measures); this
only keeps the choice (through the settings hub, which saves and pushes it) and asks for it.
The action's text says where it serves, or why not.
"""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import QObject, Signal, SignalInstance, Slot
from PySide6.QtGui import QAction

from pooldesk.backend.metrics import DEFAULT_PORT, HOST
from pooldesk.desktop.settings_hub import SettingsHub


class MetricsServer(Protocol):
    """What serves the endpoint (the telemetry service): asked for a port, says where it
    serves. A protocol, so this view does not import the service."""

    @property
    def metricsPortRequested(self) -> SignalInstance: ...  # int: 0 stops the endpoint

    @property
    def metricsServing(self) -> SignalInstance: ...  # url ("" when off), error


class MetricsToggle(QObject):
    message = Signal(str)  # for the status bar

    def __init__(self, parent: QObject, hub: SettingsHub, telemetry: MetricsServer) -> None:
        super().__init__(parent)
        self.hub = hub
        self.telemetry = telemetry
        self.port = hub.file.metrics_port
        self.action = QAction(parent)
        self.action.setCheckable(True)
        self.action.setChecked(bool(self.port))
        self._label("")
        self.action.toggled.connect(self._toggled)
        telemetry.metricsServing.connect(self._serving)

    def _label(self, where: str) -> None:
        self.action.setText(f"Serve Prometheus &metrics ({where or f'{HOST}:{self._port()}'})")
        self.action.setToolTip(
            "Serve workers, tasks, queues, warnings and batches for Prometheus at "
            f"http://{HOST}:{self._port()}/metrics (this machine only)"
        )

    def _port(self) -> int:
        return self.port or DEFAULT_PORT

    @Slot(bool)
    def _toggled(self, on: bool) -> None:
        port = (self.hub.file.metrics_port or self._port()) if on else 0
        self.hub.update(metrics_port=port)
        self.port = port or self.port
        self.telemetry.metricsPortRequested.emit(port)

    @Slot(str, str)
    def _serving(self, url: str, error: str) -> None:
        if error:
            self.action.blockSignals(True)
            self.action.setChecked(False)
            self.action.blockSignals(False)
            self._label("not serving")
            self.message.emit(f"Prometheus metrics not served: {error}")
        elif url:
            self._label(url.removeprefix("http://").removesuffix("/metrics"))
            self.message.emit(f"Serving Prometheus metrics at {url}")
        else:
            self._label("")
            self.message.emit("Prometheus metrics stopped")
