"""The recorder's writing side: the rows pending in memory and their way into ``tasks.db``.

Why apart from the recorder's loop: what may go wrong with the file (locked, full, damaged,
set aside or replaced under the process) is the writer's to survive, and none of it may end
the capture. The loop decides *when* to write (``recorder.FLUSH_S``, ``recorder.FLUSH_ROWS``);
this module owns *what* is pending and how a failed write is kept, retried and, past
``MAX_PENDING`` tasks, reported as a gap instead of growing memory without bound.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from typing import Any

from pooldesk.backend.setaside import set_aside
from pooldesk.backend.sqlitefile import is_corruption
from pooldesk.backend.taskhistory.store import Gap, TaskStore

log = logging.getLogger("pooldesk.recorder")

MAX_PENDING = 200_000  # tasks held in memory while the file cannot be written
RETRY_WRITE_S = 5.0


class HistoryWriter:
    """The pending rows of one recorder (task id → row, merged) and the store they go to."""

    def __init__(self, key: str, store: TaskStore) -> None:
        self.key = key
        self.store = store
        if self.store.message:
            log.warning("%s", self.store.message)
        self.file_id = self.store.file_id()  # the file we hold: a change at the path is seen
        self.pending: dict[str, dict[str, Any]] = {}
        self.last_flush = time.monotonic()
        self._write_again_at = 0.0
        self._dropped_since: float | None = None

    def flush(self) -> None:
        """Write what is pending in one transaction. A failed write (disk full, the file
        locked for > 10 s) keeps the rows in memory and is tried again after ``RETRY_WRITE_S``
        instead of ending the capture; past ``MAX_PENDING`` tasks the oldest are dropped and
        the loss is reported as a gap once the store works again."""
        mono = time.monotonic()
        self.last_flush = mono
        if not self.pending or mono < self._write_again_at:
            return
        try:
            self.store.write(self.pending.values())
        except sqlite3.DatabaseError as exc:
            if is_corruption(exc):  # our own file went bad: set it aside, go on in a new one
                log.error("writing %d tasks failed: %s", len(self.pending), exc)
                self._set_aside_own(exc)
                return
            self._write_failed(mono, exc)
            return
        except sqlite3.Error as exc:
            self._write_failed(mono, exc)
            return
        self.pending = {}
        if self._dropped_since is not None:
            self.store.add_gap(
                Gap(self.key, self._dropped_since, time.time(), "the history file was unwritable")
            )
            self._dropped_since = None

    def moved(self) -> str | None:
        """How the file at the store's path stopped being the one we hold, or None."""
        now_id = self.store.file_id()
        if now_id is None or now_id != self.file_id:
            return "was set aside or replaced" if now_id else "was removed"
        return None

    def reopen(self, what: str) -> None:
        """Close the handles on the old file and open the one at the path (a new, empty file
        when none is there; a damaged one is set aside first, by the store's one rule)."""
        name = self.store.path.name
        try:
            new = TaskStore(self.store.path)
        except Exception as exc:
            log.error("%s %s, and the new file cannot be opened: %s", name, what, exc)
            return
        with contextlib.suppress(sqlite3.Error):
            self.store.close()
        self.store = new
        self.file_id = new.file_id()
        log.info("%s %s under the recorder: reopened the file now at %s", name, what, new.path)
        if new.message:
            log.warning("%s", new.message)
        self.store.alive(self.key)
        self.flush()

    def _set_aside_own(self, exc: sqlite3.DatabaseError) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.store.close()
        try:
            set_aside(self.store.path, "Task history", exc, then="starting a new history")
        except OSError as err:
            log.error("could not set the damaged %s aside: %s", self.store.path.name, err)
        self.reopen("was damaged")

    def _write_failed(self, mono: float, exc: sqlite3.Error) -> None:
        self._write_again_at = mono + RETRY_WRITE_S
        log.error("writing %d tasks failed: %s; kept in memory", len(self.pending), exc)
        if len(self.pending) > MAX_PENDING:
            for task_id in list(self.pending)[: len(self.pending) - MAX_PENDING]:
                del self.pending[task_id]
            self._dropped_since = self._dropped_since or time.time()
