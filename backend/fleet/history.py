"""Each host's recent samples, as the Overview's machine charts read them (issue 20: the charts
switch between hosts).

The columns have the shape of the telemetry sampler's ring buffers (``"system"``: ``t``,
``cpu_percent``, ``ram_used``, ``ram_available``, ``ram_total``; ``"system.cores"``: ``t``,
``cpu0``…), so the same chart classes draw this machine or any host. One deque per host, at
most ``KEEP`` samples (an hour at one a second: ~1.5 MB per 8-core host in Python objects), fed
from the panel's listener thread and read from the GUI's chart timer: a lock guards both.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

KEEP = 3600


class HostHistory:
    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self._hosts: dict[str, deque[tuple[float, tuple[float, ...], float, float]]] = {}
        self._lock = threading.Lock()

    def record(self, sample: dict[str, Any]) -> None:
        """One agent sample (already checked by ``hosts.valid``)."""
        cores = tuple(float(c) for c in sample.get("cpu_per_core") or ())
        used, total = sample.get("memory_used_bytes"), sample.get("memory_total_bytes")
        if not cores or used is None or not total:
            return
        ts = float(sample["ts"]) if sample.get("ts") is not None else time.time()
        with self._lock:
            ring = self._hosts.setdefault(sample["host"], deque(maxlen=self.keep))
            if ring and ts <= ring[-1][0]:
                return  # a duplicate or a clock step back: the charts need time to advance
            ring.append((ts, cores, float(used), float(total)))

    def hosts(self) -> list[str]:
        with self._lock:
            return sorted(self._hosts)

    def columns(self, host: str, series: str, seconds: float) -> dict[str, list[float]]:
        """``{"t": [...], field: [...]}`` of the last ``seconds`` (empty: nothing heard)."""
        with self._lock:
            ring = self._hosts.get(host)
            rows = list(ring) if ring else []
        if rows:
            since = rows[-1][0] - seconds
            rows = [r for r in rows if r[0] >= since]
        if not rows:
            return {}
        t = [r[0] for r in rows]
        if series == "system.cores":
            width = min(len(r[1]) for r in rows)
            return {"t": t, **{f"cpu{i}": [r[1][i] for r in rows] for i in range(width)}}
        if series != "system":
            return {}
        return {
            "t": t,
            "cpu_percent": [sum(r[1]) / len(r[1]) for r in rows],
            "ram_used": [r[2] for r in rows],
            "ram_available": [r[3] - r[2] for r in rows],
            "ram_total": [r[3] for r in rows],
        }

    def source(self, host: str) -> Any:
        """A chart history source (``(series, seconds) -> columns``) for ``host``."""
        return lambda series, seconds: self.columns(host, series, seconds)
