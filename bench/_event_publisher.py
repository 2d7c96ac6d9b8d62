"""A fake worker for ``bench/events_vs_flower.py``: noop task lifecycles as Celery events.

One process per publisher (``multiprocessing``, spawn): ``task-sent`` from a client dispatcher
(unbuffered, as ``apply_async`` does), then ``task-received``/``task-started``/
``task-succeeded`` from a worker dispatcher that batches task events like a prefork worker with
its event loop (``buffer_group=['task']``), plus ``worker-online``, a ``worker-heartbeat``
every 2 s and ``worker-offline``. No task runs: only the event stream is real.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
import time
import uuid
from typing import Any

import _common  # noqa: F401 (the repository root on sys.path, in the spawned child too)

HEARTBEAT_S = 2.0
TASK_NAME = "pooldesk.noop"
QUEUE = "default"


def publisher(index: int, url: str, tasks: int, rate: float, go: Any, results: Any) -> None:
    """One fake worker: ``tasks`` lifecycles as fast as allowed.

    Puts ``(index, events sent, of which task events, seconds)`` on ``results``."""
    from pooldesk.backend.celery_app import make_app

    app = make_app(url, url, include=[])
    node = socket.gethostname()
    host, client_host = f"bench-{index}@{node}", f"bench-client-{index}@{node}"
    sent = task_events = 0
    with app.connection_for_write() as conn, app.connection_for_write() as client_conn:
        worker = app.events.Dispatcher(
            conn, hostname=host, enabled=True, buffer_while_offline=False, buffer_group=["task"]
        )
        client = app.events.Dispatcher(
            client_conn, hostname=client_host, enabled=True, buffer_while_offline=False
        )
        info = {"freq": HEARTBEAT_S, "sw_ident": "py-celery", "sw_ver": "5.4", "sw_sys": "Linux"}
        go.wait()
        start = time.monotonic()
        worker.send("worker-online", **info)
        sent += 1
        next_beat = start + HEARTBEAT_S
        for n in range(tasks):
            task_id = str(uuid.uuid4())
            client.send(
                "task-sent", uuid=task_id, root_id=task_id, parent_id=None, name=TASK_NAME,
                args="()", kwargs="{}", retries=0, eta=None, expires=None, queue=QUEUE,
                exchange="", routing_key=QUEUE,
            )  # fmt: skip
            worker.send(
                "task-received", uuid=task_id, name=TASK_NAME, args="()", kwargs="{}",
                root_id=task_id, parent_id=None, retries=0, eta=None, expires=None,
            )  # fmt: skip
            worker.send("task-started", uuid=task_id)
            worker.send("task-succeeded", uuid=task_id, result="None", runtime=0.0004)
            sent += 4
            task_events += 4
            now = time.monotonic()
            if now >= next_beat:
                worker.flush()
                worker.send(
                    "worker-heartbeat", active=0, processed=n + 1, loadavg=list(os.getloadavg()),
                    **info,
                )  # fmt: skip
                sent += 1
                next_beat = now + HEARTBEAT_S
            if rate > 0:
                ahead = sent / rate - (now - start)
                if ahead > 0.005:
                    time.sleep(ahead)
        worker.flush()
        worker.send("worker-offline", **info)
        sent += 1
        elapsed = time.monotonic() - start
        worker.close()
        client.close()
    results.put((index, sent, task_events, elapsed))


def start_publishers(
    url: str, tasks: int, count: int, rate: float, daemon: bool = False
) -> tuple[list[Any], Any, Any]:
    """Start ``count`` publisher processes sharing ``tasks`` lifecycles and the total ``rate``
    (events/s, 0: none). They wait for the returned event to be set; each puts its
    ``(index, events, task events, seconds)`` on the returned queue when done."""
    per = [tasks // count] * count
    per[0] += tasks - sum(per)
    ctx = mp.get_context("spawn")
    go, results = ctx.Event(), ctx.Queue()
    each = rate / count if rate > 0 else 0.0
    procs = [
        ctx.Process(target=publisher, args=(i, url, per[i], each, go, results), daemon=daemon)
        for i in range(count)
    ]
    for proc in procs:
        proc.start()
    return procs, go, results
