"""The in-worker probe's clock readings (``_pooldesk_fit``): schedstat kept unparsed per switch
and parsed only when two readings differ — the wait for a core must still come out right."""

from __future__ import annotations

import sys
import time

import pytest

from pooldesk.backend.workers import inworker

sys.path.insert(0, str(inworker.path()))
import _pooldesk_fit as fit


def test_the_same_reading_twice_waited_nothing() -> None:
    assert fit._waited(b"100 200 3\n", b"100 200 3\n") == 0.0


def test_a_changed_reading_is_parsed_into_seconds() -> None:
    assert fit._waited(b"100 2000000000 3\n", b"900 2500000000 4\n") == pytest.approx(0.5)
    assert fit._waited(b"100 200 3\n", b"900 200 4\n") == 0.0  # ran, did not wait


def test_unreadable_readings_wait_nothing() -> None:
    assert fit._waited(b"", b"1 2 3\n") == 0.0
    assert fit._waited(b"x y", b"1 2 3\n") == 0.0


def test_a_run_measures_cpu_and_demand_on_the_thread_path() -> None:
    """prerun → CPU work → postrun outside gevent: CPU close to the wall, demand ≥ CPU."""

    class Request:
        hostname, delivery_info = "w@h", {"routing_key": "q"}

    class Task:
        name, request, app = "probe.spin", Request(), None

    meter = fit.Meter()
    assert meter.pool in ("solo", "threads")
    meter.prerun("id-1", Task())
    end = time.thread_time() + 0.05
    while time.thread_time() < end:
        pass
    meter.postrun("id-1")
    [stat] = meter.stats.values()
    assert stat.runs == 1
    assert 0.04 <= stat.cpu <= stat.wall + 0.01
    assert stat.demand >= stat.cpu
    assert stat.hold == 0.0  # no loop to hold outside gevent
