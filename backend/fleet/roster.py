"""Each host's workers, as the panel's Workers table shows them: published by the agent, read
by the panel (issue 20, "Window": a Host column, rows of workers on other hosts).

The agent publishes ``{"kind": "workers", "host", "ts", "workers": [row, ...]}`` on the hosts
fanout when a row's shape changes (a state, a pid, a size: checked every ``CHECK_S``) and
otherwise every ``REFRESH_S`` (fresh CPU and memory figures, and the rows for a panel that has
just started). A row is a worker's :class:`WorkerInfo` JSON minus its log lines and start times
(about 600 bytes): an idle host adds 0.1 message/s to its 1.03 (an empty list every 10 s), each
worker about 60 B/s, plus one message per change. Rows come from the same
``WorkerManager.info`` the local ``worker list`` uses, so states read alike.

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
from dataclasses import dataclass, fields, replace
from typing import Any

from pooldesk.backend.fleet.backlog import KIND as BACKLOG
from pooldesk.backend.fleet.backlog import HostBacklogs
from pooldesk.backend.fleet.history import HostHistory
from pooldesk.backend.fleet.hosts import HostRegistry
from pooldesk.backend.fleet.relayed import KIND as EVENTS
from pooldesk.backend.fleet.relayed import RelayedEvents
from pooldesk.backend.fleet.sign import HOST_RE
from pooldesk.backend.workers.info import WorkerInfo

log = logging.getLogger("pooldesk.fleet.agent")

KIND = "workers"
CHECK_S = 1.0
REFRESH_S = 10.0
# What makes a row "changed" (sent at once); CPU and memory ride on the periodic refresh.
SHAPE = ("name", "state", "pid", "pool", "concurrency", "queues", "autoscale", "progress", "exit")
MAX_ROWS = 500
UNREACHABLE = "unreachable"  # the row's host has gone silent (its agent stopped or cut off)
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
        check_s: float = CHECK_S,
        refresh_s: float = REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host, self.rows, self.clock = host, rows, clock
        self.check_s, self.refresh_s = check_s, refresh_s
        self._next_check = self._next_full = 0.0
        self._shape: list[dict[str, Any]] | None = None

    def due(self) -> dict[str, Any] | None:
        now = self.clock()
        if now < self._next_check:
            return None
        self._next_check = now + self.check_s
        try:
            rows = self.rows()
        except Exception:  # the agent keeps serving; the panel keeps the last rows
            log.exception("listing this host's workers failed")
            return None
        shape = [{k: r.get(k) for k in SHAPE} for r in rows]
        if shape == self._shape and now < self._next_full:
            return None
        self._shape, self._next_full = shape, now + self.refresh_s
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


def merged(local: list[WorkerInfo], fleet: list[WorkerInfo]) -> list[WorkerInfo]:
    """This machine's rows, then the fleet's, then the other Celery nodes no agent speaks for.
    An agent serving this machine's own data directory lists this machine's workers: theirs
    are the same processes, shown once, as this machine's."""
    mine = [w for w in local if not w.remote]
    own = {w.hostname for w in mine}
    fleet = [w for w in fleet if w.hostname not in own]
    hosted = {w.hostname for w in fleet}
    others = [w for w in local if w.remote and w.hostname not in hosted]
    return [*mine, *fleet, *others]


class FleetRegistry(HostRegistry):
    """A :class:`HostRegistry` that also keeps each host's last published workers, and the
    worker events its agent relays from its projects' own brokers (``relayed``: the
    telemetry's ``MonitorSet`` reads it) and their backlog (``backlogs``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.history = HostHistory()  # every sample, for the Overview's charts
        self.relayed = RelayedEvents()
        self.backlogs = HostBacklogs(self.online, self.clock)  # its projects' own brokers
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
        if isinstance(message, dict) and message.get("kind") == BACKLOG:
            if not self.backlogs.feed(message):
                self.dropped += 1
                return False
            return True
        if isinstance(message, dict) and message.get("kind") == EVENTS:
            if not self.relayed.feed(message):
                self.dropped += 1
                return False
            return True
        fed = super().feed(message)
        if fed and message["kind"] == "sample":
            self.history.record(message)
        return fed

    def workers(self, host: str | None = None) -> list[FleetWorker]:
        """The last rows of ``host`` (every host's: None), hosts in name order. A host whose
        agent is silent keeps its rows, marked ``unreachable`` (its workers may well run on:
        they outlive their agent), without the figures that would be stale."""
        with self._rows_lock:
            hosts = [host] if host is not None else sorted(self._rows)
            rows = {h: list(self._rows.get(h, [])) for h in hosts}
        out: list[FleetWorker] = []
        for h, workers in rows.items():
            if self.online(h):
                out += workers
            else:
                out += [
                    replace(w, state=UNREACHABLE, cpu_percent=None, memory_bytes=None)
                    for w in workers
                ]
        return out

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
