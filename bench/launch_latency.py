"""How long a launch blocks the caller (the window's click, the CLI): target < 50 ms.

    .venv/bin/python bench/launch_latency.py --launches 200

A real managed broker in a throwaway ``POOLDESK_HOME``, no workers: a launch only validates,
sends the parent task to ``orchestration`` and writes the history row, so nothing needs to run
it. One warm-up launch (it opens the broker connection and the history file), then ``--launches``
timed ones of ``BatchService.launch_invoices``, and as many of a 1,000-URL
``launch_monitoring`` (validating every URL is the heavier launch). Prints p50/p95/max in ms,
stops the broker and deletes the directory.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

from _common import bench_home  # also puts the repository root on sys.path

TARGET_MS = 50.0


def _time(launch: Callable[[], object], count: int) -> list[float]:
    launch()  # warm-up: connection, history schema
    out = []
    for _ in range(count):
        began = time.perf_counter()
        launch()
        out.append((time.perf_counter() - began) * 1000)
    return out


def _line(what: str, ms: list[float]) -> str:
    p95 = statistics.quantiles(ms, n=20)[-1]
    verdict = "met" if p95 < TARGET_MS else "NOT met"
    return (
        f"{what}: {len(ms)} launches, p50 {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, "
        f"max {max(ms):.1f} ms  (target p95 < {TARGET_MS:.0f} ms: {verdict})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=int, default=200)
    args = parser.parse_args()
    with bench_home():  # its broker stopped and the directory deleted on the way out
        from pooldesk.backend.batches.params import InvoiceParams, MonitorParams
        from pooldesk.backend.batches.service import BatchService
        from pooldesk.backend.broker import ensure_broker

        service = BatchService(ensure_broker())
        try:
            invoices = InvoiceParams(period="2000-01", customers=6_000, chunk_size=500)
            urls = tuple(f"http://127.0.0.1:9/slow?ms=200&n={i}" for i in range(1_000))
            checks = MonitorParams(urls=urls)
            inv = _time(lambda: service.launch_invoices(invoices), args.launches)
            mon = _time(lambda: service.launch_monitoring(checks), args.launches)
        finally:
            service.close()
    print(_line("launch_invoices (6,000 customers)", inv))
    print(_line("launch_monitoring (1,000 URLs)  ", mon))
    return 0


if __name__ == "__main__":
    sys.exit(main())
