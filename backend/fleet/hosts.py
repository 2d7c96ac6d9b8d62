"""The panel's view of the fleet: a registry fed by agents' announces and samples.

Announces (at start and every ``ANNOUNCE_S``) carry what does not change: cores, memory, OS,
Python, Pooldesk's version. Samples (every second) carry CPU per core, memory used, load, the
data directory's disk and the number of workers, plus the few static fields a list needs, so a
panel that has just started knows every live host within one sample interval without asking.
A host is *online* when its last message is younger than ``online_s``. Messages are not signed
(a panel without the fleet key may watch); each is checked for shape, and anything else is
dropped, so a stray publisher cannot break the registry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pooldesk.backend.fleet.sign import HOST_RE

ONLINE_S = 5.0
KINDS = ("announce", "sample", "bye")
MAX_CORES = 4096


@dataclass
class HostState:
    name: str
    last_seen: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)  # the last announce
    sample: dict[str, Any] = field(default_factory=dict)  # the last sample
    gone: bool = False  # the agent said goodbye (a clean stop)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def valid(message: Any) -> bool:
    """A message is a dict with a known kind, a valid host name and numeric fields."""
    if not isinstance(message, dict) or message.get("kind") not in KINDS:
        return False
    if not isinstance(message.get("host"), str) or not HOST_RE.match(message["host"]):
        return False
    cores = message.get("cpu_per_core", [])
    if not isinstance(cores, list) or len(cores) > MAX_CORES:
        return False
    if any(_number(c) is None for c in cores):
        return False
    return all(
        message.get(k) is None or _number(message.get(k)) is not None
        for k in ("cores", "memory_total_bytes", "memory_used_bytes", "workers", "ts")
    )


class HostRegistry:
    """Thread-safe: a listener thread feeds it, a view (or the CLI) reads rows."""

    def __init__(self, online_s: float = ONLINE_S, clock: Callable[[], float] = time.time):
        self.online_s = online_s
        self.clock = clock
        self._hosts: dict[str, HostState] = {}
        self._lock = threading.Lock()
        self.received = 0
        self.dropped = 0

    def feed(self, message: Any) -> bool:
        if not valid(message):
            self.dropped += 1
            return False
        with self._lock:
            self.received += 1
            state = self._hosts.setdefault(message["host"], HostState(message["host"]))
            state.last_seen = self.clock()
            state.gone = message["kind"] == "bye"
            if message["kind"] == "announce":
                state.info = message
            elif message["kind"] == "sample":
                state.sample = message
        return True

    def remember(self, known: Any) -> None:
        """Hosts heard before (``host list``'s file): listed offline until heard again."""
        if not isinstance(known, dict):
            return
        with self._lock:
            for name, seen in known.items():
                if (
                    isinstance(name, str)
                    and HOST_RE.match(name)
                    and isinstance(seen, dict)
                    and _number(seen.get("last_seen")) is not None
                    and name not in self._hosts
                ):
                    info = {
                        k: v
                        for k, v in seen.items()
                        if k in ("cores", "memory_total_bytes", "version")
                        and (v is None or _number(v) is not None or isinstance(v, str))
                    }
                    self._hosts[name] = HostState(name, float(seen["last_seen"]), info)

    def memory(self) -> dict[str, dict[str, Any]]:
        """What :meth:`remember` takes back: each host's last sighting and static figures."""
        with self._lock:
            return {
                s.name: {
                    "last_seen": s.last_seen,
                    "cores": s.sample.get("cores", s.info.get("cores")),
                    "memory_total_bytes": s.sample.get(
                        "memory_total_bytes", s.info.get("memory_total_bytes")
                    ),
                    "version": s.sample.get("version", s.info.get("version")),
                }
                for s in self._hosts.values()
            }

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._hosts)

    def online(self, name: str) -> bool:
        with self._lock:
            state = self._hosts.get(name)
            return state is not None and self._online(state)

    def _online(self, state: HostState) -> bool:
        return not state.gone and self.clock() - state.last_seen <= self.online_s

    def rows(self) -> list[dict[str, Any]]:
        """One dict per host, the fields of ``pooldesk host list --json``."""
        with self._lock:
            return [self._row(self._hosts[n]) for n in sorted(self._hosts)]

    def _row(self, state: HostState) -> dict[str, Any]:
        info, sample = state.info, state.sample
        cores = sample.get("cpu_per_core") or []

        def pick(key: str) -> Any:
            return sample.get(key, info.get(key))

        return {
            "name": state.name,
            "online": self._online(state),
            "last_seen": round(state.last_seen, 3),
            "cores": pick("cores"),
            "memory_total_bytes": pick("memory_total_bytes"),
            "cpu_percent": round(sum(cores) / len(cores), 1) if cores else None,
            "cpu_per_core": cores,
            "memory_used_bytes": sample.get("memory_used_bytes"),
            "load": sample.get("load"),
            "disk_used_bytes": sample.get("disk_used_bytes"),
            "disk_total_bytes": sample.get("disk_total_bytes"),
            "workers": sample.get("workers"),
            "version": pick("version"),
            "os": info.get("os"),
            "python": info.get("python"),
        }
