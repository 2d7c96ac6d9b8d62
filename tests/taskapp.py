"""A small user app for the task-history tests: tasks that succeed, fail, retry and run long.

Started as a real worker with ``--app tests.taskapp:app``; the broker comes from the worker's
environment like Pooldesk's own app (JSON only, events on).
"""

from __future__ import annotations

import os
import time
from typing import Any

from pooldesk.backend.celery_app import make_app

app = make_app(
    os.environ.get("POOLDESK_BROKER_URL"), os.environ.get("POOLDESK_RESULT_BACKEND"), include=[]
)


@app.task(name="taskapp.add")
def add(x: int, y: int) -> int:
    return x + y


@app.task(name="taskapp.echo")
def echo(*args: Any, fail: bool = False, **kwargs: Any) -> dict[str, Any]:
    """Returns what it got; ``fail=True`` raises with the arguments in the message."""
    if fail:
        raise ValueError(f"asked to fail with {list(args)!r}")
    return {"args": list(args), "kwargs": kwargs}


@app.task(name="taskapp.lookup")
def lookup(customer: int) -> None:
    raise KeyError(f"customer {customer} not found")


@app.task(name="taskapp.flaky", bind=True, max_retries=2)
def flaky(self: Any, tries_before_ok: int) -> str:
    if self.request.retries < tries_before_ok:
        raise self.retry(exc=RuntimeError("not yet"), countdown=0.2)
    return "ok"


@app.task(name="taskapp.sleep")
def sleep(seconds: float, fail: bool = False) -> float:
    time.sleep(seconds)
    if fail:
        raise TimeoutError(f"gave up after {seconds} s")
    return seconds
