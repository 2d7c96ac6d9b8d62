"""Small tasks for smoke tests and demos: a no-op, a sleep (I/O-like) and a CPU burner."""

from __future__ import annotations

import time

from pooldesk.backend.celery_app import app


@app.task(name="pooldesk.noop")
def noop() -> str:
    return "ok"


@app.task(name="pooldesk.sleep")
def sleep(seconds: float) -> float:
    """Waits without using CPU: under gevent many of these overlap."""
    time.sleep(seconds)
    return seconds


@app.task(name="pooldesk.burn_cpu")
def burn_cpu(seconds: float) -> int:
    """Pure-Python CPU work for ``seconds``: blocks a gevent loop, one core per prefork slot."""
    end = time.process_time() + seconds
    count = 0
    while time.process_time() < end:
        count += sum(i * i for i in range(1000)) % 7
    return count
