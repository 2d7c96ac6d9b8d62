"""Sending through a broker restart (``batches/outage.py``): waited for, bounded, stoppable.

The clock and the sleep are the seam; the real broker restart is in
tests/integration/test_project_batches.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kombu.exceptions import OperationalError

from pooldesk.backend.batches.outage import through_outage

REFUSED = OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def failing(times: int, error: Exception = REFUSED) -> tuple[list[int], Callable[[], str]]:
    calls: list[int] = []

    def send() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "sent"

    return calls, send


def test_a_restart_is_waited_for_with_a_capped_backoff() -> None:
    clock, (calls, send) = Clock(), failing(5)
    assert through_outage(send, sleep=clock.sleep, clock=lambda: clock.now) == "sent"
    assert len(calls) == 6 and clock.slept == [0.5, 1.0, 2.0, 2.0, 2.0]


def test_an_outage_longer_than_the_bound_raises_its_error() -> None:
    clock, (calls, send) = Clock(), failing(1000)
    with pytest.raises(OperationalError):
        through_outage(send, outage_s=10.0, sleep=clock.sleep, clock=lambda: clock.now)
    assert clock.now == 10.0 and len(calls) == 8


def test_a_cancel_or_an_error_that_is_not_the_broker_stops_at_once() -> None:
    clock, (calls, send) = Clock(), failing(3)
    with pytest.raises(OperationalError):
        through_outage(send, stop=lambda: True, sleep=clock.sleep, clock=lambda: clock.now)
    assert len(calls) == 1
    clock, (calls, send) = Clock(), failing(3, TypeError("Object of type set is not JSON"))
    with pytest.raises(TypeError):
        through_outage(send, sleep=clock.sleep, clock=lambda: clock.now)
    assert len(calls) == 1 and clock.slept == []
