"""The backlog of a host's projects' own brokers: sampled by its agent, kept by the panel.

The panel reads the backlog of every broker it can reach (its own, its local projects' own).
A project on another host with a broker of its own (``redis://localhost`` *there*) is out of
its reach, so that host's agent reads the queues its workers consume on each of its projects'
own brokers (the fleet's own broker excluded: the panel reads that itself) with
``broker_status`` every ``EVERY_S`` and publishes on the hosts fanout:

``{"kind": "backlog", "host": H, "ts": T, "brokers": [{"project", "broker", "up", "error",
"queues": {name: waiting}}, ...]}``

``broker`` and ``error`` are masked (``BrokerConfig.masked_url``, ``describe_unreachable``):
the hosts fanout is read by any panel, key or not. A queue-length read is a pipeline of
``LLEN`` per queue, cheap but not free, hence 5 s, not the samples' 1 s. The panel keeps the
last message per host (:class:`HostBacklogs`); a host gone silent keeps its entries, marked
``stale``, so an old count is never shown as fresh.

The reads run off the agent's loop (``run``: a daemon thread each round, one at a time): an
unreachable broker costs a connect timeout (seconds), which would otherwise hold back the
samples and the commands the loop drains. ``due()`` hands over the last finished round.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from pooldesk.backend.broker.resolve import BrokerConfig
from pooldesk.backend.broker.status import BrokerStatus, broker_status
from pooldesk.backend.fleet.sign import HOST_RE

KIND = "backlog"
EVERY_S = 5.0
MAX_BROKERS = 50  # per message: projects with a broker of their own on one host
MAX_QUEUES = 100  # per broker

Projects = Callable[[], list[tuple[str, BrokerConfig, tuple[str, ...]]]]
Status = Callable[[BrokerConfig, tuple[str, ...]], BrokerStatus]
Runner = Callable[[Callable[[], None]], None]


def in_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="pooldesk-backlog", daemon=True).start()


class BacklogSampler:
    """The agent's side: ``due()`` (its loop) returns a message every ``every_s``."""

    def __init__(
        self,
        host: str,
        fleet_url: str | None,
        projects: Projects,
        status: Status = broker_status,
        every_s: float = EVERY_S,
        clock: Callable[[], float] = time.monotonic,
        run: Runner = in_thread,
    ) -> None:
        self.host, self.fleet_url, self.projects = host, fleet_url, projects
        self.status, self.every_s, self.clock, self.run = status, every_s, clock, run
        self._next = 0.0
        self._lock = threading.Lock()
        self._busy = False
        self._ready: dict[str, Any] | None = None

    def due(self) -> dict[str, Any] | None:
        """The message to publish now (None: not yet, or no project with a broker of its own):
        every ``every_s`` a round of reads starts (unless one still runs); a finished round's
        message is returned once."""
        now = self.clock()
        if now >= self._next:
            self._next = now + self.every_s
            with self._lock:
                start, self._busy = not self._busy, True
            if start:
                self.run(self._round)
        with self._lock:
            ready, self._ready = self._ready, None
        return ready

    def _round(self) -> None:
        try:
            message = self.read()
        except Exception:  # a broken read must not end the agent (nor leave _busy set)
            message = None
        with self._lock:
            self._ready, self._busy = message, False

    def read(self) -> dict[str, Any] | None:
        """One round: the backlog of each project's own broker, as the message to publish."""
        try:
            wanted = [
                (name, config, queues)
                for name, config, queues in self.projects()
                if config.broker_url and config.broker_url != self.fleet_url
            ][:MAX_BROKERS]
        except Exception:  # an unreadable record must not stop the agent's loop
            return None
        if not wanted:
            return None
        brokers = []
        for name, config, queues in wanted:
            status = self.status(config, tuple(queues[:MAX_QUEUES]))
            brokers.append(
                {
                    "project": name,
                    "broker": config.masked_url,
                    "up": status.up,
                    "error": status.error,
                    "queues": dict(status.queues),
                }
            )
        return {"kind": KIND, "host": self.host, "ts": time.time(), "brokers": brokers}


def _entry(raw: Any) -> dict[str, Any] | None:
    """One broker of a message, checked for shape (the fanout is open to any publisher)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("project"), str):
        return None
    queues = raw.get("queues")
    if not isinstance(queues, dict) or len(queues) > MAX_QUEUES:
        return None
    if not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
        for k, v in queues.items()
    ):
        return None
    broker, error = raw.get("broker"), raw.get("error")
    return {
        "project": raw["project"],
        "broker": broker if isinstance(broker, str) else None,
        "up": raw.get("up") is True,
        "error": error if isinstance(error, str) else None,
        "queues": dict(queues),
    }


class HostBacklogs:
    """The panel's side: the last backlog per host, thread-safe (a listener feeds it)."""

    def __init__(self, online: Callable[[str], bool], clock: Callable[[], float] = time.time):
        self.online, self.clock = online, clock
        self._last: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        self._lock = threading.Lock()

    def feed(self, message: Any) -> bool:
        host, brokers = message.get("host"), message.get("brokers")
        if not isinstance(host, str) or not HOST_RE.match(host) or not isinstance(brokers, list):
            return False
        parsed = [e for e in map(_entry, brokers[:MAX_BROKERS]) if e is not None]
        with self._lock:
            self._last[host] = (self.clock(), parsed)
        return True

    def entries(self, host: str | None = None) -> list[dict[str, Any]]:
        """Each broker's backlog with its ``host``, ``at`` (panel clock) and ``stale``: the
        host is silent (offline or gone), so its counts are the last heard, not current."""
        with self._lock:
            hosts = [host] if host is not None else sorted(self._last)
            last = {h: self._last[h] for h in hosts if h in self._last}
        out = []
        for h, (at, entries) in last.items():
            stale = not self.online(h)
            out += [{**e, "host": h, "at": round(at, 3), "stale": stale} for e in entries]
        return out


def as_status(entry: dict[str, Any]) -> tuple[str, BrokerStatus]:
    """``("shop on web-2", its BrokerStatus)``: where the window shows its own projects'
    brokers (status bar, backlog chart). A stale one is not up: its counts are not current."""
    where = f"{entry['project']} on {entry['host']}"
    if entry.get("stale"):
        error = f"host {entry['host']} silent: its agent's last backlog is not current"
        return where, BrokerStatus(url=entry.get("broker"), managed=False, up=False, error=error)
    status = BrokerStatus(
        url=entry.get("broker"),
        managed=False,
        up=bool(entry.get("up")),
        queues=dict(entry.get("queues") or {}),
        error=entry.get("error"),
    )
    return where, status


def describe(entry: dict[str, Any]) -> str:
    """ "shop on web-2: up, reports 120 waiting" (the status bar's words for it)."""
    where = f"{entry['project']} on {entry['host']}"
    if entry.get("stale"):
        return f"{where}: unreachable (host silent)"
    if not entry.get("up"):
        return f"{where}: down"
    waiting = ", ".join(f"{q} {n} waiting" for q, n in sorted(entry["queues"].items()))
    return f"{where}: up" + (f", {waiting}" if waiting else "")
