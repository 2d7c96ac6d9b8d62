"""A user's app as Pooldesk meets it: undeclared queues, no Pooldesk import, four kinds of task.

Started by the tests as ``--app tests.fitapp:app`` (from the repo root); the broker URL arrives in
``CELERY_BROKER_URL`` like in any Celery project. Each task kind has its own queue Pooldesk has
never heard of, so whatever the panel says about them it measured:

- ``fit_cpu``: pure Python CPU work;
- ``fit_block``: a C call that waits without CPU and without yielding (libc ``usleep`` through
  ctypes, standing in for a database driver gevent cannot patch);
- ``fit_coop``: a cooperative wait (``time.sleep``, patched under gevent);
- ``fit_mixed``: half CPU, half cooperative wait.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
from collections.abc import Callable

from celery import Celery

app = Celery("fitapp")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_send_sent_event=True,
    worker_prefetch_multiplier=1,
)
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
QUEUES = {"cpu": "fit_cpu", "block": "fit_block", "coop": "fit_coop", "mixed": "fit_mixed"}


def _burn(seconds: float, clock: Callable[[], float] = time.thread_time) -> int:
    end = clock() + seconds
    count = 0
    while clock() < end:
        count += sum(i * i for i in range(500)) % 7
    return count


@app.task(name="fitapp.cpu")
def cpu(seconds: float) -> int:
    return _burn(seconds)


@app.task(name="fitapp.block")
def block(seconds: float) -> float:
    _libc.usleep(int(seconds * 1_000_000))  # holds the thread (and a gevent loop) in C
    return seconds


@app.task(name="fitapp.coop")
def coop(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@app.task(name="fitapp.mixed")
def mixed(seconds: float) -> float:
    _burn(seconds / 2, time.perf_counter)  # half its wall time computing, however busy the box
    time.sleep(seconds / 2)
    return seconds


@app.task(name="fitapp.noop")
def noop() -> None:
    return None
