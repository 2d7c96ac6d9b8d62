"""Batch history: newest first, survives restarts, and a corrupt file never stops start-up."""

from __future__ import annotations

import time
from pathlib import Path

from pooldesk.backend.batches.history import BatchRecord, HistoryStore


def _record(i: int) -> BatchRecord:
    return BatchRecord(
        id=f"{i:032x}",
        kind="invoices",
        params={"queue": "invoices"},
        state="completed",
        created_at=1_700_000_000 + i,
    )


def test_newest_first_and_kept_across_instances(home: Path) -> None:
    store = HistoryStore()
    for i in range(1000):
        store.add(_record(i))
    started = time.perf_counter()
    listed = HistoryStore().list(limit=200)  # a restarted panel
    elapsed = time.perf_counter() - started
    assert [r.id for r in listed[:3]] == [f"{i:032x}" for i in (999, 998, 997)]
    assert len(listed) == 200
    print(f"history: 200 newest of 1,000 batches listed in {elapsed * 1000:.1f} ms")
    assert [r.id for r in HistoryStore().find(f"{5:032x}")] == [f"{5:032x}"]


def test_corrupt_history_is_kept_aside_and_replaced(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "history.db").write_bytes(b"this is not a database" * 100)
    store = HistoryStore()
    assert store.message and "kept as history.db.corrupt-" in store.message
    assert list(home.glob("history.db.corrupt-*"))
    store.add(_record(1))
    assert [r.id for r in store.list()] == [f"{1:032x}"]
