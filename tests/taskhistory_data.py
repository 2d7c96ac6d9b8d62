"""A large, realistic task history written straight into a store (for the page and the bench)."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from pooldesk.backend.taskhistory.normalise import RANK, exception_type, failure_group
from pooldesk.backend.taskhistory.store import TaskStore

NAMES = ("shop.orders.charge", "shop.mail.send", "shop.reports.build", "shop.images.resize")
QUEUES = ("default", "mail", "reports")
WORKERS = ("orders-1@host", "mail-1@host", "reports-1@host")
ERRORS = (
    "KeyError('customer {n} not found')",
    "TimeoutError('smtp.example.com:25 timed out after {n} s')",
    "ValueError('invalid amount -{n}')",
)


def generate(path: Path, count: int, seed: int = 7, end: float | None = None) -> None:
    """``count`` finished tasks over the last day: 85 % succeeded, 12 % failed, 3 % revoked."""
    rng = random.Random(seed)
    end = end or time.time()
    store = TaskStore(path)
    batch: list[dict[str, Any]] = []
    for i in range(count):
        t0 = end - 86400 + 86400 * i / count
        name = NAMES[i % len(NAMES)]
        roll = rng.random()
        state = "SUCCESS" if roll < 0.85 else ("FAILURE" if roll < 0.97 else "REVOKED")
        row: dict[str, Any] = {
            "id": f"{i:08x}-0000-4000-8000-{rng.getrandbits(48):012x}",
            "broker": "generated",
            "name": name,
            "queue": QUEUES[i % len(QUEUES)],
            "worker": WORKERS[i % len(WORKERS)],
            "state": state,
            "rank": RANK[state],
            "state_ts": t0 + 0.5,
            "first_ts": t0,
            "updated_ts": t0 + 0.5,
            "sent_ts": t0,
            "received_ts": t0 + 0.01,
            "started_ts": t0 + 0.02,
            "ended_ts": t0 + 0.5,
            "runtime": 0.48,
            "retries": 0,
            "args": f"({i}, 'order-{i}')",
            "kwargs": "{'currency': 'EUR'}",
        }
        if state == "SUCCESS":
            row["result"] = f"{{'charged': {i % 500}}}"
        elif state == "FAILURE":
            exc = ERRORS[i % len(ERRORS)].format(n=i % 997)
            row.update(
                exception=exc,
                exc_type=exception_type(exc),
                exc_group=failure_group(exc),
                traceback=f'Traceback (most recent call last):\n  File "tasks.py", line {i % 90}'
                f", in run\n    do()\n{exc_type(exc)}: {exc}\n",
            )
        batch.append(row)
        if len(batch) >= 10_000:
            store.write(batch)
            batch = []
    store.write(batch)
    store.close()


def exc_type(exc: str) -> str:
    return exception_type(exc) or "Exception"
