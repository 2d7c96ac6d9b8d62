"""The demo's batches (invoices, monitoring): followed by a watcher task in the workers.

A launch only validates, sends one parent task to ``orchestration`` and records the batch: it
returns the id in milliseconds. Progress and results come from the result backend (the watcher
task publishes them under the batch id) and are written through to the history store.

The panel also re-drives a batch whose watcher's lease has lapsed (see
``pooldesk.backend.batches.watchdog``), and ``settle`` brings a batch's ledger up to date from
its children's states before anyone acts on it (status, cancel, retry): a batch whose children
have all ended is closed there and then, whatever happened to its watcher.

Project batches (``project_follower``) answer the same five calls — refresh, settle, children,
cancel, retry — so :class:`~pooldesk.backend.batches.service.BatchService` never asks a
record's kind.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
import uuid
from typing import Any

from celery import Celery

from pooldesk.backend.batches.children import fetch_states
from pooldesk.backend.batches.errors import BatchError, interrupted
from pooldesk.backend.batches.history import BatchRecord, HistoryStore
from pooldesk.backend.batches.ledger import Ledger, counts_of, ledger_for
from pooldesk.backend.batches.outcome import whole
from pooldesk.backend.batches.plan import auto_urls_per_task, item_count
from pooldesk.backend.batches.retry_plan import again, failed
from pooldesk.backend.batches.rows import child_rows, row_slices
from pooldesk.backend.batches.summary import close_now, reconcile
from pooldesk.backend.batches.watchdog import LEASE_S, redrive
from pooldesk.backend.broker.resolve import BrokerConfig, ensure_broker
from pooldesk.backend.panelapp import panel_app

PARENT_TASKS = {"invoices": "pooldesk.batch.invoices", "monitoring": "pooldesk.batch.monitoring"}
CHILD_TASKS = {
    "invoices": "pooldesk.invoices.chunk",
    "monitoring": "pooldesk.monitoring.check_urls",
}
WATCH_TASK = "pooldesk.batch.watch"
ORCHESTRATION = "orchestration"
log = logging.getLogger(__name__)


def _unreachable(exc: BaseException) -> str:
    return f"result backend unreachable: {str(exc).splitlines()[0]}"


def _interrupted(doing: str, record: BatchRecord, exc: BaseException) -> BatchError:
    """Redis failing under a cancel or a retry: every step of either can be taken again."""
    return BatchError(interrupted(doing, record.id, exc))


class DemoBatches:
    def __init__(self, config: BrokerConfig | None, history: HistoryStore) -> None:
        self._config = config
        self.history = history
        self._app: Celery | None = None
        self.last_error: str | None = None  # why the last refresh kept the old state

    @property
    def app(self) -> Celery:
        if self._app is None:
            config = self._config or ensure_broker()
            self._config = config
            # The panel must answer, not hang: workers retry the backend forever, the panel
            # gives up after a few seconds and shows the last known state.
            self._app = panel_app("send", config.broker_url, config.result_backend)
        return self._app

    @property
    def config(self) -> BrokerConfig | None:
        """The broker this panel sends to (None until first used, with no config given)."""
        return self._config

    @property
    def ledger(self) -> Ledger:
        return ledger_for(self.app)

    def close(self) -> None:
        if self._app is not None:
            self._app.close()
            self._app = None

    def launch(self, kind: str, params: dict[str, Any]) -> BatchRecord:
        batch_id = uuid.uuid4().hex
        # Leased from the start: a parent message lost or stranded in Redis's unacked (a broker
        # restart, a worker killed before it planned) is sent again by a watchdog.
        try:
            self.ledger.write_meta(
                {"id": batch_id, "kind": kind, "params": params, "planning": True}
            )
            self.ledger.arm(batch_id, 0, LEASE_S)
        except Exception as exc:  # redis-py's errors of every kind; nothing was sent
            raise BatchError(
                f"cannot launch: the result backend is unreachable ({str(exc).splitlines()[0]})"
            ) from exc
        try:
            self.app.send_task(
                PARENT_TASKS[kind], args=[batch_id, params], task_id=batch_id, queue=ORCHESTRATION
            )
        except Exception as exc:  # the broker restarting: the batch is leased, so recorded too
            # Its parent is sent by a watchdog (or this panel's refresh) once the lease lapses;
            # raising here would hide a batch that then runs anyway.
            log.warning("batch %s: parent not sent (%s); the lease sends it", batch_id[:12], exc)
        shown = dict(params)
        if kind == "monitoring":
            shown["url_count"] = len(shown.pop("urls"))
            shown["urls_per_task"] = shown.get("urls_per_task") or auto_urls_per_task(
                shown["url_count"]
            )
        record = BatchRecord(
            id=batch_id, kind=kind, params=shown, state="queued", created_at=time.time()
        )
        self.history.add(record)
        return record

    # -- following ---------------------------------------------------------------------------
    def refresh(self, record: BatchRecord) -> BatchRecord:
        """Bring one record up to date from the result backend and write it through.

        With the backend unreachable the record is returned as last known (``last_error`` says
        why), so a list or a window never fails because Redis restarts.
        """
        try:
            meta = self.app.backend.get_task_meta(record.id)
        except Exception as exc:  # redis/kombu connection errors of every kind
            self.last_error = _unreachable(exc)
            return record
        self.last_error = None
        state, info = meta.get("status", "PENDING"), meta.get("result")
        if state in ("PENDING", "STARTED", "PROGRESS") and self._redrive(record):
            return self.refresh(record)  # closed just now: read the summary
        before = (record.state, record.counts, record.finished_at)
        if state == "STARTED" and record.state == "queued":
            record.state, record.started_at = "running", record.started_at or time.time()
        elif state == "PROGRESS" and isinstance(info, dict):
            record.state = "running"
            record.counts = self._live_counts(record.id) or dict(info.get("counts") or {})
            record.started_at = (info.get("batch") or {}).get("started_at") or record.started_at
        elif state == "SUCCESS" and isinstance(info, dict) and "outcome" in info:
            self._keep_children(record)
            record.state = str(info["outcome"])
            record.summary = info
            record.counts = dict(info.get("counts") or {})
            record.started_at = info.get("started_at") or record.started_at
            record.finished_at = info.get("finished_at") or time.time()
        elif state == "FAILURE":
            record.state, record.finished_at = "error", time.time()
            record.error = (
                f"{info.get('exc_type')}: {info.get('exc_message')}"
                if isinstance(info, dict)
                else str(info)
            )
        elif state == "REVOKED":
            record.state, record.finished_at = "cancelled", time.time()
        if (record.state, record.counts, record.finished_at) != before or record.summary:
            self.history.update(record)
        return record

    def _redrive(self, record: BatchRecord) -> bool:
        """A running batch whose watcher's lease has lapsed: close it if its children have
        all ended, else send it a new watcher. True when it was closed."""
        try:
            due = self.ledger.due_in(record.id)
            if due is None or due > 0:
                return False
            if not self.ledger.exists(record.id):  # not planned yet: its parent is sent again
                redrive(self.app, self.ledger, record.id)
                return False
            return self._settle(record, resume=True)
        except Exception as exc:
            self.last_error = _unreachable(exc)
            return False

    def _settle(self, record: BatchRecord, resume: bool = False) -> bool:
        ledger = self.ledger
        if not ledger.exists(record.id):
            return False
        if reconcile(self.app, ledger, record.id, record.kind) == 0:
            return close_now(self.app, ledger, record.id) is not None
        if resume:
            redrive(self.app, ledger, record.id)
        return False

    def settle(self, record: BatchRecord) -> BatchRecord:
        """Before status, cancel or retry: every child that has ended is counted (a report lost
        while Redis restarted included), and a batch with none open is closed now — so the
        counts never contradict the children's rows, and nothing waits on a lost watcher."""
        if record.final:
            return record
        try:
            self._settle(record, resume=True)
        except Exception as exc:
            self.last_error = _unreachable(exc)
            return record
        return self.refresh(record)

    def children(self, record: BatchRecord, limit: int | None = None) -> list[dict[str, Any]]:
        """Per-child rows (per URL for monitoring): kept in the history once finished, read
        from the batch's ledger while it runs. O(children): only when someone opens a batch;
        ``limit`` bounds what a running batch's read costs (see ``rows.child_rows``)."""
        if record.summary and "children" in record.summary:  # recorded by an older version
            return list(record.summary["children"])
        if record.final:
            kept = self.history.rows(record.id, limit)
            if kept is not None:
                return kept
        try:
            if not self.ledger.exists(record.id):
                return []
            return child_rows(self.app, self.ledger, record.id, record.kind, limit)
        except Exception as exc:
            self.last_error = _unreachable(exc)
            return []

    def _live_counts(self, batch_id: str) -> dict[str, int] | None:
        """Straight from the ledger (O(1)): fresher than the watcher's once-a-second record."""
        try:
            snap = self.ledger.snapshot(batch_id)
        except Exception:
            return None
        return counts_of(snap) if snap is not None else None

    def _keep_children(self, record: BatchRecord) -> None:
        """The finished batch's rows into the history, before the result backend forgets;
        a slice of the plan at a time, so a 100,000-URL batch never sits in memory whole."""
        if record.final or self.history.has_rows(record.id):
            return
        try:
            for rows in row_slices(self.app, self.ledger, record.id, record.kind):
                self.history.add_rows(record.id, rows)
        except Exception as exc:
            self.last_error = _unreachable(exc)
            self.history.drop_rows(record.id)  # all or nothing: the next refresh tries again

    # -- control -----------------------------------------------------------------------------
    def cancel(self, record: BatchRecord, terminate: bool = False) -> dict[str, Any]:
        """Revoke the children that have not ended; running ones finish unless ``terminate``.
        A batch whose children had all ended (its watcher lost) is closed instead: ``ended``."""
        if record.final:
            raise BatchError(f"batch {record.id[:12]} has already ended ({record.state})")
        record = self.settle(record)
        if record.final:  # every child had ended; only the batch's close was missing
            return {"pending": 0, "running": 0, "ended": True, "state": record.state}
        try:
            return self._cancel(record, terminate)
        except BatchError:
            raise
        except Exception as exc:  # redis-py's and kombu's errors of every kind
            # Every prefix is one a second cancel finishes: revoked children not yet marked are
            # revoked and marked again; marked ones not yet counted are counted by its settle
            # (and by the watcher's scan, as are children a worker discards as revoked).
            raise _interrupted("cancelling", record, exc) from exc

    def _cancel(self, record: BatchRecord, terminate: bool) -> dict[str, Any]:
        planned = self.ledger.exists(record.id)
        if not planned and record.state == "running":
            # The parent is planning right now: revoking it would leave its children running.
            raise BatchError(
                f"batch {record.id[:12]} is still being planned; cancel again in a moment"
            )
        if not planned:  # still queued: revoking the parent stops it before it starts
            self.app.control.revoke(record.id)
            self.app.backend.mark_as_revoked(record.id, reason="cancelled by user")
            record.state, record.finished_at = "cancelled", time.time()
            self.history.update(record)
            return {"pending": 0, "running": 0, "ended": False, "state": "cancelled"}
        return self._cancel_open(record, terminate)

    def _cancel_open(self, record: BatchRecord, terminate: bool) -> dict[str, Any]:
        ledger = self.ledger
        children = ledger.children(record.id, ledger.open_indices(record.id))
        states = fetch_states(self.app, [c["id"] for c in children])
        pending = [c for c in children if states[c["id"]].state == "PENDING"]
        running = [c for c in children if states[c["id"]].state in ("STARTED", "RETRY")]
        if pending:
            self.app.control.revoke([c["id"] for c in pending])
            for child in pending:  # so the batch counts them as ended right away
                self.app.backend.mark_as_revoked(child["id"], reason="cancelled by user")
                outcome = whole(record.kind, child, "cancelled", cancelled=True)
                ledger.ended(record.id, int(child["index"]), child["id"], outcome)
        if running and terminate:
            self.app.control.revoke([c["id"] for c in running], terminate=True, signal="SIGTERM")
        self._settle(record, resume=True)  # none left open: closed here, not by a close task
        return {  # in items: chunks, or URLs
            "pending": sum(item_count(c) for c in pending),
            "running": sum(item_count(c) for c in running),
            "ended": False,
            "state": self.refresh(record).state,
        }

    def retry(self, record: BatchRecord) -> BatchRecord:
        """Run only the failed (or cancelled) children of a finished batch again.

        The ledger's part is one script (:mod:`.retry_write`): Redis failing under it leaves the
        batch as it was, and the person retries; once written the round is leased, so its
        publishes failing are the lease's. A retry repeated for a round already begun writes and
        sends nothing twice. The history is reopened *before* the script: written after it, a
        failing write left the old end listed while the round ran (nothing refreshes an ended
        record); reopened first, a refresh follows whatever the script did (its old end, or
        the new round)."""
        record = self.settle(record)
        if not record.final or not record.summary:
            raise BatchError(f"batch {record.id[:12]} has not finished; cancel or wait first")
        summary = record.summary
        round_ = int(summary.get("retry_round", 0)) + 1
        rows = self.children(record)
        ledger = self.ledger
        try:
            if not ledger.exists(record.id):
                raise BatchError(
                    f"batch {record.id[:12]} is too old to retry: its plan has expired from the "
                    "result backend"
                )
            plan = ledger.children(record.id)
        except BatchError:
            raise
        except Exception as exc:
            raise _interrupted("retrying", record, exc) from exc
        to_run = again(record, rows, plan, round_)
        if not to_run:
            raise BatchError(f"batch {record.id[:12]} has no failed children to retry")
        counts = summary.get("counts") or {}
        batch = {
            "id": record.id,
            "kind": record.kind,
            "queue": record.params["queue"],
            "started_at": time.time(),
            "params": record.params,
            "retry_round": round_,
            "missing": summary.get("missing_customers", 0),
            "children": max([int(c["index"]) for c in plan + to_run], default=-1) + 1,
            "items": int(counts.get("total", 0)),
        }
        # What the rows say succeeded (a child revoked as it started may have succeeded after all).
        succeeded = sum(1 for r in rows if not failed(r))
        ended = (record.state, record.finished_at, record.summary)
        record.state, record.finished_at, record.summary = "running", None, None
        try:  # the history first: see HistoryStore.reopen
            self.history.reopen(record)
        except (sqlite3.Error, OSError) as exc:
            raise BatchError(interrupted("retrying", record.id, exc, "the batch history")) from None
        try:  # the ledger's part, all of it or none (see batches.retry_write)
            begun, gen = ledger.begin_retry(
                record.id,
                to_run,
                round_=round_,
                succeeded=succeeded,
                meta=batch,
                result_key=self.app.backend.get_key_for_task(record.id),
                lease=LEASE_S,
            )
        except Exception as exc:  # redis-py's errors of every kind
            raise _interrupted("retrying", record, exc) from exc
        if begun < 0:  # its plan expired since ``exists`` (the rows go with it)
            record.state, record.finished_at, record.summary = ended
            self.history.update(record)
            raise BatchError(f"batch {record.id[:12]} is too old to retry: its plan has expired")
        with contextlib.suppress(sqlite3.Error, OSError):  # said by reopen already; this
            self.history.update(record)  # undoes a refresh that read the old end meanwhile
        if begun:
            self._start_round({**batch, "gen": gen}, to_run, counts)
        else:  # begun by a call whose reply was lost: its lease finishes it
            log.info("batch %s: retry round %d was begun already", record.id[:12], round_)
        return record

    def _start_round(
        self, batch: dict[str, Any], to_run: list[dict[str, Any]], counts: dict[str, Any]
    ) -> None:
        """A leased round's publishes: its PROGRESS, its children, its first watch round. Any
        of them failing (the broker restarting) is left to the lease: a watchdog re-arms the
        batch once it lapses, and the watcher sends the children no worker holds as orphans."""
        try:
            self.app.backend.store_result(
                batch["id"],
                {"batch": batch, "counts": {**counts, "failed": 0, "cancelled": 0}},
                "PROGRESS",
            )
            for child in to_run:
                self.app.send_task(
                    CHILD_TASKS[batch["kind"]],
                    args=child["args"],
                    task_id=child["id"],
                    queue=batch["queue"],
                )
            self.app.send_task(
                WATCH_TASK, args=[batch], task_id=batch["id"], queue=ORCHESTRATION, countdown=1.0
            )
        except Exception as exc:
            log.warning(
                "batch %s: retry not all sent (%s); the lease sends it", batch["id"][:12], exc
            )
