"""Sending through a broker restart: the same message tried again, for a bounded time.

A project batch's children are sent from Pooldesk's own process, one after the other. A broker
restarting part way (measured on Redis: kombu's ``OperationalError: Error 111 … Connection
refused`` for as long as it is away, then the same producer sends again) used to stop the
sending: the batch ended ``error`` with its unsent children, and the person had to run ``batch
retry`` for a fault that lasted seconds. Here the child that failed is sent again, with a capped
back-off, until the broker answers or :data:`OUTAGE_S` have passed; only a longer outage stops
the sending (recorded, and ``retry`` sends the rest, as before).

Each child is sent again under its **own id**: a refused connection published nothing, so the
child goes out once. (A connection that dies in the middle of a publish cannot say whether the
broker kept it; kombu's own publish retries already resend it then, and a second message with
the same id is counted once by the follower.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

T = TypeVar("T")

OUTAGE_S = 30.0  # a restart takes seconds; past this the broker is down, not restarting
BACKOFF_S = (0.5, 1.0, 2.0)  # then 2 s between tries
DOWN = (OperationalError, RedisConnectionError, RedisTimeoutError, OSError)


def through_outage(
    send: Callable[[], T],
    stop: Callable[[], bool] = lambda: False,
    outage_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """``send()``, tried again while the broker is unreachable (``DOWN``) and ``stop()`` says
    no, for at most ``outage_s`` (default :data:`OUTAGE_S`); then its last error is raised."""
    deadline = clock() + (OUTAGE_S if outage_s is None else outage_s)
    tries = 0
    while True:
        try:
            return send()
        except DOWN:
            left = deadline - clock()
            if left <= 0 or stop():
                raise
            sleep(min(BACKOFF_S[min(tries, len(BACKOFF_S) - 1)], left))
            tries += 1
