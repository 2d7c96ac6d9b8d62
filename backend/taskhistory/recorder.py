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

Its file and its place (``_check_place``, every ``PLACE_CHECK_S``): a ``tasks.db`` set aside
under it (by ``tasks list`` meeting a damaged file, or by hand) is noticed by its device and
inode changing, and the recorder reopens the file now at the path, logging it — its old handles
would write into the kept-aside copy forever. A deleted data directory, or a supervisor that
died (the recorder is re-parented), makes it leave: its keeper starts a fresh pair, and one
recorder per broker holds ``KEY.recorder.lock`` (a second waits for it).

Here: the process and its loop (lock, connect, reconnect, housekeeping, after-gap recovery,
leaving). What a row says is ``folding``; pending rows and their way into the file, ``writer``.

Usage: ``python -m pooldesk.backend.taskhistory.recorder KEY`` with the broker URL in the
environment (``POOLDESK_BROKER_URL``), never on the command line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sqlite3
import sys
import time
from typing import Any

from celery import Celery

from pooldesk.backend import paths
from pooldesk.backend.batches.children import fetch_states
from pooldesk.backend.panelapp import panel_app
from pooldesk.backend.settings import load
from pooldesk.backend.sqlitefile import StoreError
from pooldesk.backend.taskhistory import service
from pooldesk.backend.taskhistory.folding import FIT_EVENT, fold, queues_of_runs
from pooldesk.backend.taskhistory.normalise import FINAL_RANK, RANK
from pooldesk.backend.taskhistory.recovery import held_row, outcome_row
from pooldesk.backend.taskhistory.store import Gap, TaskStore
from pooldesk.backend.taskhistory.writer import HistoryWriter
from pooldesk.backend.telemetry.receiver import PollingReceiver

log = logging.getLogger("pooldesk.recorder")

FLUSH_S = 0.5
FLUSH_ROWS = 5000
ALIVE_S = 2.0  # heartbeat in the store: a gap starts at the last one
RECOVER_FIRST_S = 0.5  # after a gap: once the receive loop has polled (and so subscribed)
RECOVER_AGAIN_S = 5.0  # again: a task that ended before the subscription is in the backend
PRUNE_S = 60.0
WANTED_CHECK_S = 10.0
PLACE_CHECK_S = 1.0
BACKOFF_MIN_S, BACKOFF_MAX_S = 1.0, 30.0


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
        self.writer = HistoryWriter(key, store or TaskStore())
        self._home = self.writer.store.path.parent
        self._parent: int | None = None  # set by main(): our supervisor; None in-process
        self._last_place = 0.0
        self._clean = True  # the next recorder reads "stopped" (True) or "killed" (False)
        self.events = 0
        self.stopping = False
        self._receiver: PollingReceiver | None = None
        self._app: Celery | None = None
        self._lost_at: float | None = None  # listening stopped here (start: last heartbeat)
        self._lost_reason = ""
        self._recover_at: list[float] = []  # monotonic times of the after-gap passes still due
        now = time.monotonic()
        self._last_alive = self._last_prune = self._last_wanted = now
        self._unwanted_since: float | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def stop(self) -> None:
        self.stopping = True
        if self._receiver is not None:
            self._receiver.should_stop = True

    def run(self) -> int:
        lock = self._take_lock()
        if lock is None:
            return 0  # asked to stop, orphaned or homeless while waiting for the lock
        try:
            return self._run()
        finally:
            os.close(lock)

    def _take_lock(self) -> int | None:
        """One recorder per broker: wait while another holds the lock (an orphan of a killed
        supervisor, leaving within ``PLACE_CHECK_S``)."""
        path = service.lock_path(self.key, "recorder")
        said = False
        while not self.stopping:
            fd = service.hold(path)
            if fd is not None:
                return fd
            if not said:
                log.info("another recorder holds this broker: waiting for it to leave")
                said = True
            time.sleep(0.2)
            self._check_place(force=True)
        return None

    def _run(self) -> int:
        previous = self.writer.store.last_alive(self.key)
        if previous is not None:
            self._lost_at = previous[0]
            self._lost_reason = (
                "recorder was stopped"
                if previous[1]
                else "recorder was not running (killed or crashed)"
            )
        self.writer.store.alive(self.key)
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
                    self.writer.flush()
                    if self._lost_at is None:
                        self._lost_at = time.time()
                        self._lost_reason = f"broker connection lost ({type(exc).__name__})"
                    deadline = time.monotonic() + backoff
                    while not self.stopping and time.monotonic() < deadline:
                        time.sleep(0.2)
                        self._check_place()
                        if not self.stopping:
                            self._check_wanted()
                    backoff = min(backoff * 2, BACKOFF_MAX_S)
                finally:
                    self._receiver = None
        finally:
            if self._home.is_dir():
                self.writer.flush()
                with contextlib.suppress(sqlite3.Error):
                    self.writer.store.alive(self.key, clean=self._clean)
            app.close()
        return 0

    # -- the receiver thread -----------------------------------------------------------------
    def on_event(self, event: dict[str, Any]) -> None:
        self.events += 1
        if event.get("type") == FIT_EVENT:
            self._queues_of_runs(event)
            return
        fold(self.writer.pending, event, self.hide_args, self.key)
        if len(self.writer.pending) >= FLUSH_ROWS:
            self.writer.flush()

    def _queues_of_runs(self, event: dict[str, Any]) -> None:
        """The queues of tasks already written go to the store (``folding.queues_of_runs``)."""
        found = queues_of_runs(self.writer.pending, event)
        if found:
            try:
                self.writer.store.set_queues(found)
            except sqlite3.Error as exc:  # the next runs bring theirs; nothing else is lost
                log.warning("could not note %d tasks' queues: %s", len(found), exc)

    def on_connected(self) -> None:
        now = time.time()
        if self._lost_at is not None:
            lost_at, self._lost_at = self._lost_at, None
            self.writer.store.add_gap(Gap(self.key, lost_at, now, self._lost_reason))
            log.info("not recorded for %.1f s: %s", now - lost_at, self._lost_reason)
            # Not here: this runs before the receiver has subscribed to the events (Redis
            # pub/sub keeps nothing for a late subscriber), so a task ending during a
            # recovery run here was lost for good (a flaky test found it). The first pass runs
            # once the receive loop has polled; the second finds what ended in between.
            start = time.monotonic()
            self._recover_at = [start + RECOVER_FIRST_S, start + RECOVER_AGAIN_S]
        self.writer.store.alive(self.key)
        log.info("connected to the broker: recording task events")

    def housekeeping(self) -> None:
        if self._recover_at and time.monotonic() >= self._recover_at[0]:
            self._recover_at.pop(0)
            self._recover()
        self._check_place()
        if self.stopping:
            return
        mono = time.monotonic()
        if mono - self.writer.last_flush >= FLUSH_S and self.writer.pending:
            self.writer.flush()
        if mono - self._last_alive >= ALIVE_S:
            self._last_alive = mono
            self.writer.store.alive(self.key)
        if mono - self._last_prune >= PRUNE_S:
            self._last_prune = mono
            self.writer.store.prune(self.max_tasks, self.max_age_s)
        self._check_wanted()

    def _check_place(self, force: bool = False) -> None:
        """Leave when the data directory is gone or our supervisor died; reopen ``tasks.db``
        when the file at its path is no longer the one we hold."""
        mono = time.monotonic()
        if not force and mono - self._last_place < PLACE_CHECK_S:
            return
        self._last_place = mono
        if not self._home.is_dir():
            log.info("the data directory %s is gone: recorder leaves", self._home)
            self.writer.pending = {}
            self.stop()
            return
        if self._parent is not None and os.getppid() != self._parent:
            log.info("the recorder's supervisor is gone: recorder leaves (a new pair follows)")
            self._clean = False  # the gap it leaves is a kill, not a stop
            self.stop()
            return
        moved = self.writer.moved()
        if moved is not None:
            self.writer.reopen(moved)

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
        self.writer.flush()
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
                    row = held_row(
                        self.key, host, state, request.get("request", request), now, self.hide_args
                    )
                    if row is not None:
                        held.add(row["id"])
                        self.writer.pending[row["id"]] = row
        self.writer.flush()
        # every task still open that no worker holds now: it ended (or waits in a queue) unseen
        open_ids = [i for i in self.writer.store.open_ids(self.key, now) if i not in held]
        if open_ids and str(self.result_backend or "").startswith("redis"):
            try:
                states = fetch_states(self._app, open_ids)
            except Exception as exc:
                log.warning("result backend lookup after a gap failed: %s", exc)
                states = {}
            note = "ended while not recorded: outcome read from the result backend"
            for task_id, child in states.items():
                if RANK.get(child.state, 0) >= FINAL_RANK:
                    self.writer.pending[task_id] = outcome_row(
                        self.key, task_id, child, now, note, self.hide_args
                    )
        self.writer.flush()


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
    if not paths.root_path().is_dir():  # the data directory was deleted: never recreate it
        log.info("the data directory %s is gone: recorder leaves", paths.root_path())
        raise SystemExit(0)
    try:
        recorder = Recorder(sys.argv[1], url, os.environ.get("POOLDESK_RESULT_BACKEND"))
    except StoreError as exc:  # disk full, read-only: the supervisor tries again, backing off
        log.error("%s", exc)
        raise SystemExit(1) from None
    parent = os.environ.get("POOLDESK_RECORDER_SUPERVISOR", "")
    recorder._parent = int(parent) if parent.isdigit() else None
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
