"""Remote control on the brokers of projects: one :class:`Control` per distinct broker URL.

A project's workers answer on the broker its app uses (``pooldesk.backend.projects.brokers``), so
ping, inspect, grow/shrink, queues and shutdown must go there. The manager asks this pool for the
control of a worker's spec (None: the worker is on Pooldesk's own broker) and for every project
broker that has a worker in the list (to list remote workers there too).
"""

from __future__ import annotations

from pooldesk.backend.projects.brokers import own_broker
from pooldesk.backend.workers.control import Control
from pooldesk.backend.workers.records import RecordStore
from pooldesk.backend.workers.spec import WorkerSpec


class ProjectControls:
    def __init__(self) -> None:
        self._by_url: dict[str, Control] = {}

    def for_spec(self, spec: WorkerSpec) -> Control | None:
        own = own_broker(spec.project)
        if own is None:
            return None
        key = own.broker_url or ""
        control = self._by_url.get(key)
        if control is None or control.config != own:
            if control is not None:
                control.close()
            control = self._by_url[key] = Control(own)
        return control

    def in_use(self, store: RecordStore) -> list[tuple[str, Control]]:
        """(project, control) for each distinct project broker with a worker in the list."""
        out: list[tuple[str, Control]] = []
        seen: set[str] = set()
        for name in store.names():
            record = store.load(name)
            if record is None or not record.spec.project:
                continue
            control = self.for_spec(record.spec)
            url = control.config.broker_url if control else None
            if control is None or not url or url in seen:
                continue
            seen.add(url)
            out.append((record.spec.project, control))
        return out

    def close(self) -> None:
        for control in self._by_url.values():
            control.close()
        self._by_url.clear()
