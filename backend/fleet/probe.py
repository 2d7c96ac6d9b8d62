"""What an agent says about its host: a one-off announce and a cheap per-second sample.

psutil's ``cpu_percent(percpu=True)`` without an interval measures since its previous call, so
a sample costs a few microseconds of reading /proc, never a sleep. A sample is about 300 bytes
of JSON on a 2-core host (+ ~6 bytes per extra core).
"""

from __future__ import annotations

import os
import platform
import socket
import time
from pathlib import Path
from typing import Any

import psutil

from pooldesk.backend import __version__
from pooldesk.backend.fleet.sign import HOST_RE


def default_host_name() -> str:
    """This machine's name as the fleet knows it (the short hostname, cut to a valid name)."""
    name = socket.gethostname().split(".")[0] or "localhost"
    cleaned = "".join(c if c.isalnum() or c in "_.-" else "-" for c in name)[:64]
    return cleaned if HOST_RE.match(cleaned) else "localhost"


def announce(host: str, data_dir: Path) -> dict[str, Any]:
    return {
        "kind": "announce",
        "host": host,
        "ts": time.time(),
        "cores": psutil.cpu_count() or 1,
        "memory_total_bytes": psutil.virtual_memory().total,
        "os": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "python": platform.python_version(),
        "version": __version__,
        "data_dir": str(data_dir),
        "pid": os.getpid(),
    }


class Sampler:
    """One sample per call; the first call primes the CPU counters (its CPU reads 0)."""

    def __init__(self, host: str, data_dir: Path) -> None:
        self.host = host
        self.data_dir = data_dir
        self.cores = psutil.cpu_count() or 1
        self.memory_total = psutil.virtual_memory().total
        psutil.cpu_percent(percpu=True)

    def sample(self, workers: int | None) -> dict[str, Any]:
        memory = psutil.virtual_memory()
        disk_used: int | None = None
        disk_total: int | None = None
        try:
            disk = psutil.disk_usage(str(self.data_dir))
            disk_used, disk_total = disk.used, disk.total
        except OSError:  # the data dir is not there yet (nothing written): no disk figure
            pass
        return {
            "kind": "sample",
            "host": self.host,
            "ts": round(time.time(), 3),
            "cpu_per_core": [round(c, 1) for c in psutil.cpu_percent(percpu=True)],
            "memory_used_bytes": memory.total - memory.available,
            "load": [round(x, 2) for x in os.getloadavg()],
            "disk_used_bytes": disk_used,
            "disk_total_bytes": disk_total,
            "workers": workers,
            "cores": self.cores,
            "memory_total_bytes": self.memory_total,
            "version": __version__,
        }
