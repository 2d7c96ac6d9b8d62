"""The in-worker probe, and the entry point of every worker Pooldesk starts.

``python -m _pooldesk_probe <celery args>`` (with ``backend/workers/inworker`` on ``PYTHONPATH``)
installs the probe through Celery's global ``worker_ready`` signal, then runs Celery's own
command line, so a user's app and tasks are untouched. Stand-alone on purpose: only the standard
library, Celery and gevent (when present) — it runs in a user's interpreter and working
directory, where no Pooldesk package is importable (see ``backend/workers/inworker``).

In a gevent worker it:

- counts gevent's own monitor-thread reports (``EventLoopBlocked``; enabled with
  ``GEVENT_MONITOR_THREAD_ENABLE`` by ``workers.process``). The subscriber runs in the monitor's
  native thread, so it only increments a counter;
- runs a greenlet that sleeps 100 ms and times its own wake-ups: the lateness is the loop lag a
  network task would feel (CPU-bound tasks pin the loop for seconds);
- every second sends a custom ``worker-loop`` event (``lag_ms_max``, ``lag_ms_p50``,
  ``blocked_reports``) that the panel's event monitor picks up.

The evidence for the advisor's "CPU-bound queue under gevent" rule is measured here, not guessed
from the pool name. Per-task measurement (every pool) lives in the sibling ``_pooldesk_fit``.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any


def _time_scale() -> float:
    """``POOLDESK_PROBE_TIME_SCALE`` (bench/probe_overhead.py under valgrind), default 1."""
    try:
        scale = float(os.environ.get("POOLDESK_PROBE_TIME_SCALE", "1") or 1)
    except ValueError:
        return 1.0
    return scale if scale > 0 else 1.0


TICK_S = 0.1 * _time_scale()
PUBLISH_EVERY_S = 1.0 * _time_scale()
EVENT_TYPE = "worker-loop"


class LoopStats:
    def __init__(self) -> None:
        self.blocked_reports = 0
        self.lags: list[float] = []

    def on_gevent_event(self, event: Any) -> None:
        """Called in gevent's monitor thread: count only, never touch the loop from here."""
        if type(event).__name__ == "EventLoopBlocked":
            self.blocked_reports += 1

    def take(self) -> dict[str, float]:
        lags, self.lags = sorted(self.lags), []
        if not lags:
            return {"lag_ms_max": 0.0, "lag_ms_p50": 0.0, "blocked_reports": self.blocked_reports}
        return {
            "lag_ms_max": round(lags[-1] * 1000, 1),
            "lag_ms_p50": round(lags[len(lags) // 2] * 1000, 1),
            "blocked_reports": self.blocked_reports,
        }


def _run(consumer: Any, stats: LoopStats) -> None:
    import gevent

    last_publish = time.monotonic()
    while True:
        before = time.monotonic()
        gevent.sleep(TICK_S)
        stats.lags.append(max(0.0, time.monotonic() - before - TICK_S))
        if time.monotonic() - last_publish >= PUBLISH_EVERY_S:
            last_publish = time.monotonic()
            dispatcher = getattr(consumer, "event_dispatcher", None)
            if dispatcher is not None and getattr(dispatcher, "enabled", False):
                # The broker may be away: the next tick tries again.
                with contextlib.suppress(Exception):
                    dispatcher.send(EVENT_TYPE, **stats.take())


def on_worker_ready(sender: Any = None, **_: Any) -> None:
    """``worker_ready`` handler; ``sender`` is the worker's Consumer."""
    pool = getattr(getattr(sender, "pool", None), "__module__", "") or ""
    if "gevent" not in pool:
        return
    import gevent
    from gevent import events

    stats = LoopStats()
    events.subscribers.append(stats.on_gevent_event)
    gevent.spawn(_run, sender, stats)


def install() -> None:
    import importlib

    # The sibling stand-alone module (per-task measurement, worker-fit events), found the way
    # this one was: top-level on a worker's PYTHONPATH, or inside its package in a frozen build.
    fit = importlib.import_module(
        f"{__package__}._pooldesk_fit" if __package__ else "_pooldesk_fit"
    )
    from celery.signals import worker_ready

    worker_ready.connect(on_worker_ready, weak=False)
    fit.install()


def main(argv: list[str] | None = None) -> None:
    """Install the probe, then hand over to ``celery`` with these arguments."""
    import sys

    from celery.__main__ import main as celery_main

    install()
    sys.argv = ["celery", *(argv if argv is not None else sys.argv[1:])]
    celery_main()


if __name__ == "__main__":
    main()
