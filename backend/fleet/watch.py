"""The panel's listener on the hosts fanout: announces and samples into a :class:`HostRegistry`.

``poll(timeout)`` is non-blocking beyond its timeout, for a window's background thread or the
CLI's ``host list`` (which listens ``LIST_LISTEN_S``: agents sample every second, so every live
agent is heard at least once, with its cores, memory and version).
"""

from __future__ import annotations

import uuid

from pooldesk.backend.fleet import transport
from pooldesk.backend.fleet.hosts import HostRegistry
from pooldesk.backend.fleet.link import Link

LIST_LISTEN_S = 2.0


class HostWatcher:
    def __init__(self, registry: HostRegistry | None = None, url: str | None = None) -> None:
        self.registry = registry or HostRegistry()
        self.panel = uuid.uuid4().hex[:16]
        self.link = Link(lambda: transport.panel_queue(self.panel), self.registry.feed, url)

    def poll(self, timeout: float) -> None:
        self.link.poll(timeout)

    def close(self) -> None:
        self.link.close()
