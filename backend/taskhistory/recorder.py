"""The recorder: one process per broker folding Celery's task events into ``tasks.db``.

Why a process and not a thread of the window: the history must grow while the window is closed
(workers outlive it). It is started by ``service.ensure_recorder`` under a tiny supervisor
(``taskhistory.supervise``) exactly as workers are, and leaves by itself once no local worker
runs and no window has asked for it for ``idle_exit`` seconds.

Writes are batched: events merge in memory (four events of one task → one row) and are written
in one transaction every ``FLUSH_S`` or ``FLUSH_ROWS`` rows, so 10,000 events/s cost a few
transactions per second. Redis pub/sub loses what is published while nobody listens, so every
period without a listener (recorder not running, connection lost) is stored as a *gap*; after
each (re)connect the recorder asks the workers what they hold (``inspect`` active, reserved,
scheduled) and the result backend how the tasks it lost track of ended: nothing the broker
still has is lost, and what cannot be known is reported, not hidden.

Usage: ``python -m pooldesk.backend.taskhistory.recorder KEY`` with the broker URL in the
environment (``POOLDESK_BROKER_URL``), never on the command line.
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import sys
import time
from typing import Any

from celery import Celery

from pooldesk.backend.batches.children import fetch_states
from pooldesk.backend.panelapp import panel_app
from pooldesk.backend.settings import load
from pooldesk.backend.taskhistory import service
from pooldesk.backend.taskhistory.normalise import (
    FINAL_RANK,
    MAX_REPR,
    RANK,
    exception_type,
    failure_group,
    mask_secrets,
    row_of,
)
from pooldesk.backend.taskhistory.store import Gap, TaskStore, merge
from pooldesk.backend.telemetry.receiver import PollingReceiver

log = logging.getLogger("pooldesk.recorder")

FLUSH_S = 0.5
FLUSH_ROWS = 5000
MAX_PENDING = 200_000  # tasks held in memory while the file cannot be written
RETRY_WRITE_S = 5.0
ALIVE_S = 2.0  # heartbeat in the store: a gap starts at the last one
PRUNE_S = 60.0
WANTED_CHECK_S = 10.0
BACKOFF_MIN_S, BACKOFF_MAX_S = 1.0, 30.0


FIT_EVENT = "worker-fit"  # the in-worker probe (backend/workers/inworker/_pooldesk_fit.py)


class Recorder:
    def __init__(
        self,
        key: str,
        broker_url: str,
        result_backend: str | None,
        store: TaskStore | None = None,
        idle_exit: float | None = None,
    ) -> None:
        cfg = load().settings
        self.key = key
        self.broker_url = broker_url
        self.result_backend = result_backend
        self.hide_args = bool(cfg.task_history_hide_args)
        self.max_tasks = int(cfg.task_history_max_tasks)
        self.max_age_s = float(cfg.task_history_max_days) * 86400
        self.idle_exit = service.idle_exit() if idle_exit is None else idle_exit
        self.store = store or TaskStore()
        self.pending: dict[str, dict[str, Any]] = {}
        self.events = 0
        self.stopping = False
        self._receiver: PollingReceiver | None = None
        self._app: Celery | None = None
        self._lost_at: float | None = None  # listening stopped here (start: last heartbeat)
        self._lost_reason = ""
        now = time.monotonic()
        self._last_flush = self._last_alive = self._last_prune = self._last_wanted = now
        self._unwanted_since: float | None = None
        self._write_again_at = 0.0
        self._dropped_since: float | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def stop(self) -> None:
        self.stopping = True
        if self._receiver is not None:
            self._receiver.should_stop = True

    def run(self) -> int:
        previous = self.store.last_alive(self.key)
        if previous is not None:
            self._lost_at = previous[0]
            self._lost_reason = (
                "recorder was stopped"
                if previous[1]
                else "recorder was not running (killed or crashed)"
            )
        self.store.alive(self.key)
        self._app = app = panel_app("record", self.broker_url, self.result_backend)
        backoff = BACKOFF_MIN_S
        try:
            while not self.stopping:
                try:
                    with app.connection_for_read() as conn:
                        receiver = PollingReceiver(
                            conn,
                            on_connected=self.on_connected,
                            on_iteration=self.housekeeping,
                            handlers={"*": self.on_event},
                            app=app,
                        )
                        self._receiver = receiver
                        if self.stopping:
                            break
                        receiver.capture(limit=None, timeout=None, wakeup=False)
                    backoff = BACKOFF_MIN_S
                except Exception as exc:
                    if self.stopping:
                        break
                    log.warning(
                        "event receiver: %s: %s; again in %.0f s", type(exc).__name__, exc, backoff
                    )
                    self.flush()
                    if self._lost_at is None:
                        self._lost_at = time.time()
                        self._lost_reason = f"broker connection lost ({type(exc).__name__})"
                    deadline = time.monotonic() + backoff
                    while not self.stopping and time.monotonic() < deadline:
                        time.sleep(0.2)
                        self._check_wanted()
                    backoff = min(backoff * 2, BACKOFF_MAX_S)
                finally:
                    self._receiver = None
        finally:
            self.flush()
            self.store.alive(self.key, clean=True)
            app.close()
        return 0

    # -- the receiver thread -----------------------------------------------------------------
    def on_event(self, event: dict[str, Any]) -> None:
        self.events += 1
        if event.get("type") == FIT_EVENT:
            self._queues_of_runs(event)
            return
        try:
            row = row_of(event, self.hide_args, self.key)
        except Exception:
            log.exception("could not read a %r event", event.get("type"))
            return
        if row is None:
            return
        old = self.pending.get(row["id"])
        self.pending[row["id"]] = row if old is None else merge(old, row)
        if len(self.pending) >= FLUSH_ROWS:
            self.flush()

    def _queues_of_runs(self, event: dict[str, Any]) -> None:
        """The in-worker probe's runs carry each task's routing key: the Tasks page's Queue
        column for every task of a worker Pooldesk started (task events carry no queue)."""
        found: dict[str, str] = {}
        for run in event.get("runs") or []:
            if not isinstance(run, list | tuple) or len(run) < 2:
                continue
            task_id, queue = str(run[0]), str(run[1] or "")
            if not queue or queue == "(unknown)":
                continue
            row = self.pending.get(task_id)
            if row is not None:
                row.setdefault("queue", queue)
                if not row.get("queue"):
                    row["queue"] = queue
            else:
                found[task_id] = queue
        if found:
            try:
                self.store.set_queues(found)
            except sqlite3.Error as exc:  # the next runs bring theirs; nothing else is lost
                log.warning("could not note %d tasks' queues: %s", len(found), exc)

    def on_connected(self) -> None:
        now = time.time()
        if self._lost_at is not None:
            lost_at, self._lost_at = self._lost_at, None
            self.store.add_gap(Gap(self.key, lost_at, now, self._lost_reason))
            log.info("not recorded for %.1f s: %s", now - lost_at, self._lost_reason)
            self._recover()
        self.store.alive(self.key)
        log.info("connected to the broker: recording task events")

    def housekeeping(self) -> None:
        mono = time.monotonic()
        if mono - self._last_flush >= FLUSH_S and self.pending:
            self.flush()
        if mono - self._last_alive >= ALIVE_S:
            self._last_alive = mono
            self.store.alive(self.key)
        if mono - self._last_prune >= PRUNE_S:
            self._last_prune = mono
            self.store.prune(self.max_tasks, self.max_age_s)
        self._check_wanted()

    def flush(self) -> None:
        """Write what is pending in one transaction. A failed write (disk full, the file
        locked for > 10 s) keeps the rows in memory and is tried again after ``RETRY_WRITE_S``
        instead of ending the capture; past ``MAX_PENDING`` tasks the oldest are dropped and
        the loss is reported as a gap once the store works again."""
        mono = time.monotonic()
        self._last_flush = mono
        if not self.pending or mono < self._write_again_at:
            return
        try:
            self.store.write(self.pending.values())
        except sqlite3.Error as exc:
            self._write_again_at = mono + RETRY_WRITE_S
            log.error("writing %d tasks failed: %s; kept in memory", len(self.pending), exc)
            if len(self.pending) > MAX_PENDING:
                for task_id in list(self.pending)[: len(self.pending) - MAX_PENDING]:
                    del self.pending[task_id]
                self._dropped_since = self._dropped_since or time.time()
            return
        self.pending = {}
        if self._dropped_since is not None:
            self.store.add_gap(
                Gap(self.key, self._dropped_since, time.time(), "the history file was unwritable")
            )
            self._dropped_since = None

    def _check_wanted(self) -> None:
        """Leave once no local worker runs and no window asked for us, for ``idle_exit``."""
        mono = time.monotonic()
        if mono - self._last_wanted < WANTED_CHECK_S or self.idle_exit <= 0:
            return
        self._last_wanted = mono
        if service.wanted(self.key, self.idle_exit):
            self._unwanted_since = None
        elif self._unwanted_since is None:
            self._unwanted_since = mono
        elif mono - self._unwanted_since >= self.idle_exit:
            log.info("no Pooldesk worker or window for %.0f s: recorder leaves", self.idle_exit)
            self.stop()

    # -- after a gap -------------------------------------------------------------------------
    def _recover(self) -> None:
        """What the workers hold now, and how the tasks we lost track of ended."""
        assert self._app is not None
        self.flush()
        held: set[str] = set()
        try:
            inspect = self._app.control.inspect(timeout=1.0)
            replies = [
                ("STARTED", inspect.active()),
                ("RECEIVED", inspect.reserved()),
                ("RECEIVED", inspect.scheduled()),
            ]
        except Exception as exc:
            log.warning("inspect after a gap failed: %s", exc)
            replies = []
        now = time.time()
        for state, reply in replies:
            for host, requests in (reply or {}).items():
                for request in requests or []:
                    row = self._held_row(host, state, request.get("request", request), now)
                    if row is not None:
                        held.add(row["id"])
                        self.pending[row["id"]] = row
        self.flush()
        # every task still open that no worker holds now: it ended (or waits in a queue) unseen
        open_ids = [i for i in self.store.open_ids(self.key, now) if i not in held]
        if open_ids and str(self.result_backend or "").startswith("redis"):
            try:
                states = fetch_states(self._app, open_ids)
            except Exception as exc:
                log.warning("result backend lookup after a gap failed: %s", exc)
                states = {}
            note = "ended while not recorded: outcome read from the result backend"
            for task_id, child in states.items():
                if RANK.get(child.state, 0) >= FINAL_RANK:
                    self.pending[task_id] = self._outcome_row(task_id, child, now, note)
        self.flush()

    def _outcome_row(self, task_id: str, child: Any, now: float, note: str) -> dict[str, Any]:
        row: dict[str, Any] = {
            "id": task_id,
            "broker": self.key,
            "state": child.state,
            "rank": FINAL_RANK,
            "state_ts": now,
            "first_ts": now,
            "updated_ts": now,
            "note": note,
        }
        if child.state == "FAILURE" and child.result is not None:
            exception = child.result if isinstance(child.result, str) else repr(child.result)
            row.update(
                exception=mask_secrets(exception[:MAX_REPR]),
                exc_type=exception_type(exception),
                exc_group=mask_secrets(failure_group(exception)),
            )
        elif child.state == "SUCCESS" and not self.hide_args:
            row["result"] = mask_secrets(repr(child.result)[:MAX_REPR])
        return row

    def _held_row(
        self, host: str, state: str, request: dict[str, Any], now: float
    ) -> dict[str, Any] | None:
        task_id = request.get("id")
        if not task_id:
            return None
        delivery = request.get("delivery_info") or {}
        hidden = self.hide_args
        return {
            "id": task_id,
            "broker": self.key,
            "name": request.get("name"),
            "worker": request.get("hostname") or host,
            "queue": delivery.get("routing_key"),
            "state": state,
            "rank": RANK[state],
            "state_ts": 0.0,  # never newer than a real event
            "first_ts": request.get("time_start") or now,
            "updated_ts": now,
            "started_ts": request.get("time_start"),
            "args": None if hidden else mask_secrets(repr(tuple(request.get("args") or ()))),
            "kwargs": None if hidden else mask_secrets(repr(request.get("kwargs") or {})),
            "args_hidden": 1 if hidden else None,
            "note": "found on a worker after a gap (inspect)",
        }


def main() -> None:
    if len(sys.argv) != 2:
        sys.stderr.write("usage: python -m pooldesk.backend.taskhistory.recorder KEY\n")
        raise SystemExit(2)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(message)s"
    )
    url = os.environ.get("POOLDESK_BROKER_URL")
    if not url:
        sys.stderr.write("recorder: POOLDESK_BROKER_URL is not set\n")
        raise SystemExit(2)
    recorder = Recorder(sys.argv[1], url, os.environ.get("POOLDESK_RESULT_BACKEND"))
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: recorder.stop())
    log.info(
        "recorder %s listening (args %s)",
        sys.argv[1],
        "hidden" if recorder.hide_args else "recorded, secrets masked",
    )
    raise SystemExit(recorder.run())


if __name__ == "__main__":
    main()
