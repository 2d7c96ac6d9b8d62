"""The watcher's lease: a batch's progress never waits on a message only a visibility timeout
can bring back.

A batch's watcher is a chain of short ``pooldesk.batch.watch`` rounds, each scheduled 2 s after
the last (an ETA message). A worker holds such a message unacked until it runs; when the broker
restarts meanwhile, the worker's consumer drops what it held (Celery clears its timer and its
reserved requests on a lost connection) and Redis returns the message from ``unacked`` only after
the visibility timeout — 900 s by default (measured: a 10-chunk batch stuck "running 8/10" for
910 s after one ``kill -9`` of the managed redis-server). So the chain is not trusted alone:

* every round renews a **lease** (``pooldesk-batches:due``, scored by Redis's own clock:
  :data:`LEASE_S` ahead) under the batch's watcher **generation** (``pooldesk-batch:<id>:gen``);
* every Pooldesk worker runs a small **watchdog** thread (:func:`start`, from ``worker_ready``)
  that every :data:`TICK_S` s (one ``INFO``, one ``GETSET``, one ``ZRANGEBYSCORE``) re-arms

  - every open batch at once when the broker's or the result backend's Redis has **restarted**
    (its ``run_id`` changed since the last tick anyone made), and
  - any batch whose lease has **lapsed** (a watch message lost outright, e.g. the last second
    before a ``kill -9`` that ``appendfsync everysec`` did not write);

* the lease starts at launch: a parent (planning) message lost or stranded the same way is
  sent again (a plan that finds the batch planned ends at once);
* the panel does the same for a batch it is looking at (``BatchService.refresh``) whose lease
  has lapsed, so a batch with no live watchdog is still re-driven — and closed at once when
  its children have all ended (:func:`pooldesk.backend.batches.summary.close_now`).

Re-arming bumps the generation and sends one fresh round (no ETA) that reads the open
children's states at once; a round of an older generation (the original, when Redis returns it
900 s later) ends quietly, so there is never more than one watcher per batch. A broker restart
thus costs a batch the restart plus one tick and one round.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import Celery

from pooldesk.backend.batches.children import ENDED
from pooldesk.backend.batches.ledger import Ledger, ledger_for

log = logging.getLogger(__name__)

LEASE_S = 30.0  # rounds are 2 s apart; 30 s rides out a round queued behind a busy worker
TICK_S = 2.0
RUN_KEY = "pooldesk-batches:redis-runs"
WATCH_TASK = "pooldesk.batch.watch"
PARENT_TASKS = {"invoices": "pooldesk.batch.invoices", "monitoring": "pooldesk.batch.monitoring"}
ORCHESTRATION = "orchestration"


def send_round(app: Celery, batch: dict[str, Any], gen: int) -> None:
    """A fresh round of generation ``gen``, now: it reads the open children's states first."""
    app.send_task(
        WATCH_TASK,
        args=[{**batch, "gen": gen, "rearmed": True}],
        task_id=batch["id"],
        queue=ORCHESTRATION,
    )


def rearm(app: Celery, ledger: Ledger, claimed: list[tuple[str, int]]) -> list[str]:
    """Send a round for each claimed batch (its parent again, if it never planned); forget
    batches whose ledger has expired."""
    sent = []
    for batch_id, gen in claimed:
        meta = ledger.meta(batch_id)
        parent = PARENT_TASKS.get(str((meta or {}).get("kind")))
        if meta and meta.get("planning") and parent and not ledger.exists(batch_id):
            if _parent_ended(app, batch_id):
                ledger.disarm(batch_id)  # failed (shown), cancelled, or nothing to plan
                continue
            # A plan that finds the batch planned already ends at once (no second plan).
            app.send_task(
                parent, args=[batch_id, meta["params"]], task_id=batch_id, queue=ORCHESTRATION
            )
            sent.append(batch_id)
            continue
        if meta is None or not ledger.exists(batch_id):
            ledger.disarm(batch_id)
            continue
        send_round(app, meta, gen)
        sent.append(batch_id)
    if sent:
        log.warning("batch watcher re-armed for %s", ", ".join(b[:12] for b in sent))
    return sent


def _parent_ended(app: Celery, batch_id: str) -> bool:
    """A parent that failed for real (a bug, the database after its retries), found nothing
    to plan, or was cancelled while queued has stored its end: sending it again every lease
    would run it again for ever (a cancelled one after all, on a worker that never saw the
    revoke). Redis failing under a parent stores nothing (it ends quietly): that one is sent
    again."""
    return str(app.backend.get_task_meta(batch_id).get("status")) in ENDED


def redis_runs(app: Celery, ledger: Ledger) -> str:
    """The ``run_id`` of the result backend's Redis and, if the broker is Redis, of the
    broker's: a new value means one of them restarted."""
    runs = [str(ledger.client.info("server").get("run_id", ""))]
    with app.connection_for_read() as conn:
        if conn.transport.driver_type == "redis":
            channel = conn.default_channel
            runs.append(str(channel.client.info("server").get("run_id", "")))
    return "/".join(runs)


def restarted(app: Celery, ledger: Ledger) -> bool:
    """True for exactly one caller after a restart (``GETSET``: the first to see it)."""
    runs = redis_runs(app, ledger)
    before = ledger.client.getset(RUN_KEY, runs)
    before = before.decode() if isinstance(before, bytes) else before
    return before != runs


def tick(app: Celery) -> list[str]:
    """One watchdog round: the batches re-armed."""
    ledger = ledger_for(app)
    claimed = ledger.claim(LEASE_S, "all") if restarted(app, ledger) else []
    claimed += ledger.claim(LEASE_S, "overdue")
    return rearm(app, ledger, claimed)


def redrive(app: Celery, ledger: Ledger, batch_id: str, force: bool = False) -> bool:
    """The panel's part: a batch whose lease has lapsed (or any, with ``force``) gets a new
    watcher. True when one was sent."""
    return bool(rearm(app, ledger, ledger.claim(LEASE_S, "one", batch_id, force=force)))


class Watchdog(threading.Thread):
    def __init__(self, app: Celery) -> None:
        super().__init__(name="pooldesk-batch-watchdog", daemon=True)
        self.app = app
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(TICK_S):
            try:
                tick(self.app)
            except Exception as exc:  # broker or backend away: the next tick tries again
                log.debug("batch watchdog: %s", exc)


_running: list[Watchdog] = []


def start(app: Celery) -> Watchdog:
    """One watchdog per worker process (idempotent)."""
    if not _running:
        dog = Watchdog(app)
        dog.start()
        _running.append(dog)
    return _running[0]


def stop() -> None:
    while _running:
        _running.pop().stopping.set()
