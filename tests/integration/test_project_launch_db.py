"""A project launch whose database write fails leaves no half-launched batch.

The launch used to record the batch in the history, then insert its children in the child store
(``project_batches.db``): a children insert failing in between (a locked or full database) left
a batch listed with no children, "queued" for ever. Now the children go first and the record
second, each one SQLite transaction, and a record that cannot be written takes its children
with it.

The failure is real: another connection holds the file's write lock (``BEGIN EXCLUSIVE``, as a
second Pooldesk writing a large batch would), and the launch's own busy wait is shortened from
10 s to 0.2 s so the test does not sit through it. Nothing is sent: the fault comes before the
broker is used, so the plan's target names a broker nobody listens on.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from pooldesk.backend.batches.errors import BatchError
from pooldesk.backend.batches.history import HistoryStore
from pooldesk.backend.batches.items import parse_range
from pooldesk.backend.batches.project_batch import ProjectBatches
from pooldesk.backend.batches.project_plan import Plan
from pooldesk.backend.batches.project_store import ChildStore
from pooldesk.backend.batches.project_target import Target

NOWHERE = "redis://127.0.0.1:9/0"  # never reached: the launch fails before it sends


def _plan() -> Plan:
    target = Target("ledger", "ledgerq.btasks.add", "ledger-posting", NOWHERE, NOWHERE)
    items = parse_range("1:25")
    return Plan(target, items, 5, 5)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def _short_wait(connect: Callable[[Any], sqlite3.Connection]) -> Callable[[Any], Any]:
    def quick(self: Any) -> sqlite3.Connection:
        conn = connect(self)
        conn.execute("PRAGMA busy_timeout=200")
        return conn

    return quick


def _children(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM children").fetchone()[0])


@pytest.mark.parametrize("locked", ["children", "history"])
def test_a_launch_whose_database_write_fails_leaves_nothing_listed(
    home: Path, monkeypatch: pytest.MonkeyPatch, locked: str
) -> None:
    batches = ProjectBatches()
    monkeypatch.setattr(ChildStore, "_connect", _short_wait(ChildStore._connect))
    monkeypatch.setattr(HistoryStore, "_connect", _short_wait(HistoryStore._connect))
    sent: list[Any] = []
    monkeypatch.setattr(Celery, "send_task", lambda *a, **k: sent.append(k))
    file = batches.store.path if locked == "children" else batches.history.path
    try:
        with _locked(file), pytest.raises(BatchError) as err:
            batches.launch(_plan())
        assert "database is locked" in str(err.value) and "nothing was recorded" in str(err.value)
        assert batches.history.list() == []  # no batch listed with no children
        assert _children(batches.store.path) == 0  # and no children of a batch no one lists
        assert sent == []
        # The database free again, the same launch is recorded (sending is not this test's).
        monkeypatch.setattr(ProjectBatches, "_send", lambda self, record, target, children: None)
        monkeypatch.setattr(ProjectBatches, "refresh", lambda self, record: record)
        record = batches.launch(_plan())
        assert [r.id for r in batches.history.list()] == [record.id]
        assert _children(batches.store.path) == 5
    finally:
        batches.close()
