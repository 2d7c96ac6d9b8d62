"""Each host's workers, as the panel's Workers table shows them: published by the agent, read
by the panel (issue 20, "Window": a Host column, rows of workers on other hosts).

The agent publishes ``{"kind": "workers", "host", "ts", "workers": [row, ...]}`` on the hosts
fanout every ``EVERY_S`` seconds: a row is a worker's :class:`WorkerInfo` JSON minus its log
lines and start times (about 600 bytes), so about 300 B/s per worker on top of the host's
per-second sample. Rows come from the same ``WorkerManager.info`` the local ``worker list``
uses, so states read alike (a start shows "starting", then "online" once it answers ping).

The panel keeps the last rows of each host in a :class:`FleetRegistry` (a :class:`HostRegistry`
that also reads this kind; the plain registry of ``host list`` drops it as an unknown kind) and
turns them into :class:`FleetWorker` rows: a ``WorkerInfo`` with ``remote=True`` (it is not a
process of this machine: no local sampling, no stop on close) and ``host`` set. Rows are not
signed, like samples: they are what a panel without the key may watch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from pooldesk.backend.fleet.history import HostHistory
from pooldesk.backend.fleet.hosts import HostRegistry
from pooldesk.backend.fleet.sign import HOST_RE
from pooldesk.backend.workers.info import WorkerInfo

log = logging.getLogger("pooldesk.fleet.agent")

KIND = "workers"
EVERY_S = 2.0
MAX_ROWS = 500
SKIPPED = ("last_log", "starts", "remote")  # long, or meaningless on the panel's side
TEXT_FIELDS = ("name", "hostname", "state")


@dataclass
class FleetWorker(WorkerInfo):
    """A worker run by the agent of ``host`` (another host of the fleet)."""

    host: str = ""


def row(info: WorkerInfo) -> dict[str, Any]:
    return {k: v for k, v in info.to_json().items() if k not in SKIPPED}


def local_rows(manager: Any) -> list[dict[str, Any]]:
    """This host's workers (the agent's manager), as published."""
    out = []
    for name in manager.store.names():
        if manager.store.load(name) is None:
            continue
        try:
            out.append(row(manager.info(name)))
        except Exception:  # one unreadable record must not hide the others
            continue
    return out


class Roster:
    """The agent's side: a ``workers`` message when one is due (None otherwise)."""

    def __init__(
        self,
        host: str,
        rows: Callable[[], list[dict[str, Any]]],
        every_s: float = EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host, self.rows, self.every_s, self.clock = host, rows, every_s, clock
        self._next = 0.0

    def due(self) -> dict[str, Any] | None:
        now = self.clock()
        if now < self._next:
            return None
        self._next = now + self.every_s
        try:
            rows = self.rows()
        except Exception:  # the agent keeps serving; the panel keeps the last rows
            log.exception("listing this host's workers failed")
            return None
        return {"kind": KIND, "host": self.host, "ts": time.time(), "workers": rows}


_FIELD_NAMES = {f.name for f in fields(FleetWorker)}


def worker(host: str, data: dict[str, Any]) -> FleetWorker | None:
    """A published row as a panel row; None when it is not one (a stray publisher)."""
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in TEXT_FIELDS):
        return None
    known = {k: v for k, v in data.items() if k in _FIELD_NAMES and k not in SKIPPED}
    queues = known.get("queues")
    known["queues"] = [str(q) for q in queues] if isinstance(queues, list) else []
    try:
        return FleetWorker(**{"pid": None, "pool": None, "concurrency": None, **known},
                           remote=True, host=host)  # fmt: skip
    except TypeError:
        return None


class FleetRegistry(HostRegistry):
    """A :class:`HostRegistry` that also keeps each host's last published workers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.history = HostHistory()  # every sample, for the Overview's charts
        self._rows: dict[str, list[FleetWorker]] = {}
        self._rows_lock = threading.Lock()

    def feed(self, message: Any) -> bool:
        if isinstance(message, dict) and message.get("kind") == KIND:
            host, rows = message.get("host"), message.get("workers")
            if not isinstance(host, str) or not HOST_RE.match(host) or not isinstance(rows, list):
                self.dropped += 1
                return False
            parsed = [w for w in (worker(host, r) for r in rows[:MAX_ROWS]) if w is not None]
            with self._rows_lock:
                self._rows[host] = parsed
            return True
        fed = super().feed(message)
        if fed and message["kind"] == "sample":
            self.history.record(message)
        return fed

    def workers(self, host: str | None = None) -> list[FleetWorker]:
        """The last rows of ``host`` (every host's: None), hosts in name order."""
        with self._rows_lock:
            hosts = [host] if host is not None else sorted(self._rows)
            return [w for h in hosts for w in self._rows.get(h, [])]

    def update_worker(self, host: str, data: dict[str, Any]) -> None:
        """An operation's outcome carried a fresher row (``data.worker``): show it now."""
        fresh = worker(host, {k: v for k, v in data.items() if k not in SKIPPED})
        if fresh is None:
            return
        with self._rows_lock:
            rows = [w for w in self._rows.get(host, []) if w.name != fresh.name]
            self._rows[host] = [*rows, fresh]

    def forget_worker(self, host: str, name: str) -> None:
        with self._rows_lock:
            self._rows[host] = [w for w in self._rows.get(host, []) if w.name != name]
