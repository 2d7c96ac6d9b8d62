"""The fleet in the window: one worker list from this machine's service and the fleet's, and
each request for a worker on another host routed to the fleet service (issue 20, "Window").

:class:`WorkerMerge` joins the worker service's rows (this machine, plus Celery nodes found
through the broker) with the fleet service's rows (each host's agent): an agent's worker is
also a Celery node on the shared broker, so the broadcast scan finds it too; its agent's row
(with its host, and every action) replaces that anonymous remote row. :class:`FixRouter` sends
an advisor's fix to the service that can apply it: the fleet service when the worker it names
runs on a fleet host (its agent applies it), else the worker service.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from pooldesk.backend.advisor.model import Fix
from pooldesk.backend.fleet.roster import merged
from pooldesk.backend.workers.info import WorkerInfo
from pooldesk.desktop.models.workers_model import host_of


class WorkerMerge(QObject):
    workersChanged = Signal(list)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.local: list[WorkerInfo] = []
        self.fleet: list[WorkerInfo] = []
        self._seen_local = False

    def set_local(self, workers: list[WorkerInfo]) -> None:
        self.local, self._seen_local = list(workers), True
        self.workersChanged.emit(merged(self.local, self.fleet))

    def set_fleet(self, workers: list[WorkerInfo]) -> None:
        if [w.to_json() for w in workers] == [w.to_json() for w in self.fleet]:
            return  # every second the same rows: nothing to redraw
        self.fleet = list(workers)
        if self._seen_local:  # the first list is this machine's ("No workers yet" till then)
            self.workersChanged.emit(merged(self.local, self.fleet))

    def workers(self) -> list[WorkerInfo]:
        return merged(self.local, self.fleet)


def fix_subject(fix: Fix) -> str:
    """The existing worker a fix acts on or stands beside (a new worker's name is not one)."""
    p: dict[str, Any] = fix.params
    if fix.kind == "start_worker":
        return str(p.get("like") or p.get("remove_from") or "")
    return str(p.get("name", ""))


class FixRouter(QObject):
    localFix = Signal(object)  # Fix: the worker service applies it
    hostFix = Signal(str, object)  # host, Fix: that host's agent applies it

    def __init__(self, merge: WorkerMerge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.merge = merge

    def route(self, fix: Fix) -> None:
        subject = fix_subject(fix)
        workers = self.merge.workers()
        if subject and not any(w.name == subject and not w.remote for w in workers):
            host = next((host_of(w) for w in workers if w.name == subject and host_of(w)), "")
            if host:
                self.hostFix.emit(host, fix)
                return
        self.localFix.emit(fix)
