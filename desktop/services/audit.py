"""The audit service: the configuration audit (``backend.audit``) off the GUI thread.

A :class:`~pooldesk.desktop.services.base.ServiceThread`. Every ``EVERY_MS`` (and on
:meth:`refresh`) it audits every project that has workers: reading an app's settings starts
the project's interpreter (about a second; cached five minutes by the backend), task history is
re-read each time, so findings follow the measurements as they arrive. The telemetry service's
latest observations (memory growth per worker) reach it through :meth:`setObservations`.
Reports leave as ``reportsChanged(list[dict])`` only when they changed (the ``checked_at``
stamp aside).
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QTimer, Signal, Slot

from pooldesk.backend.advisor.model import Observations, Thresholds
from pooldesk.backend.audit.live import audit_all
from pooldesk.backend.settings import Settings
from pooldesk.desktop.services.base import ServiceThread

log = logging.getLogger(__name__)
EVERY_MS = 15_000


class AuditController(ServiceThread):
    reportsChanged = Signal(list)  # list[dict]: Report.to_dict() per project

    def __init__(self, settings: Settings | None = None, every_ms: int = EVERY_MS) -> None:
        super().__init__("pooldesk-audit", settings or Settings())
        self._every_ms = every_ms
        self._obs: Observations | None = None
        self._last: list[dict[str, Any]] | None = None
        self._timer_: QTimer | None = None

    def _on_start(self) -> None:
        self._timer_ = self._timer(self.refresh)
        self.refresh()

    @Slot(object)
    def setObservations(self, obs: Observations) -> None:
        self._obs = obs

    @Slot()
    def refresh(self) -> None:
        if self._closing:
            return
        try:
            thresholds = Thresholds.from_settings(self.settings.advisor)
            reports = [r.to_dict() for r in audit_all(thresholds, self._obs)]
            if _comparable(reports) != _comparable(self._last):
                self._last = reports
                self.reportsChanged.emit(reports)
        except Exception:
            log.exception("audit failed; trying again")
        finally:
            if self._timer_ is not None and not self._closing:
                self._timer_.start(self._every_ms)


def _comparable(reports: list[dict[str, Any]] | None) -> Any:
    if reports is None:
        return None
    return [{k: v for k, v in r.items() if k != "checked_at"} for r in reports]
