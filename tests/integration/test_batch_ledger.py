"""The batch ledger on a real Redis (the managed broker): counted once, bounded, O(1) to read.

The watcher's guarantees rest on these: a child that ends twice (a redelivery, a resend racing
its original) counts once; what a watch round reads and publishes does not grow with the batch.
"""

from __future__ import annotations

import json

from pooldesk.backend.batches.ledger import MAX_FAILURES, MAX_RECENT, Ledger, Outcome, counts_of
from pooldesk.backend.batches.plan import monitoring_children
from pooldesk.backend.broker.resolve import BrokerConfig
from pooldesk.backend.celery_app import make_app
from pooldesk.backend.tasks.batches import progress_meta


def _ledger(broker: BrokerConfig) -> Ledger:
    return Ledger(make_app(broker.broker_url, broker.result_backend, include=[]))


def test_ends_count_once_and_the_batch_closes_when_nothing_is_open(broker: BrokerConfig) -> None:
    ledger = _ledger(broker)
    urls = [f"http://example.com/{i}" for i in range(10)]
    children, size = monitoring_children("b1", urls, 5.0, 4)
    assert size == 4 and [len(c["items"]) for c in children] == [4, 4, 2]
    ledger.write_plan("b1", children, len(urls), meta={"id": "b1"}, token="t", lease=30.0)
    ledger.started("b1", 0, 4)
    ledger.started("b1", 0, 4)  # a redelivered message starts again: counted once
    snap = ledger.snapshot("b1")
    assert snap and counts_of(snap)["started"] == 4 and counts_of(snap)["pending"] == 6

    down = {"index": 3, "id": "b1.0", "url": urls[3], "reason": "HTTP 500"}
    first = Outcome(succeeded=3, failed=1, failures=[down], sums={"runtime": 0.5})
    assert ledger.ended("b1", 0, "b1.0", first) == 2  # children still open
    assert ledger.ended("b1", 0, "b1.0", first) is None  # the same child ending twice
    assert ledger.ended("b1", 1, "b1.1", Outcome(succeeded=4)) == 1
    snap = ledger.snapshot("b1")
    assert snap and snap.open_children == 1
    assert counts_of(snap) == {
        "total": 10,
        "pending": 2,
        "started": 0,
        "succeeded": 7,
        "failed": 1,
        "cancelled": 0,
    }
    assert snap.sums["runtime"] == 0.5 and ledger.failures("b1") == [down]
    assert ledger.open_indices("b1") == [2]
    assert [c["id"] for c in ledger.children("b1", [2])] == ["b1.2"]
    assert ledger.ended("b1", 2, "b1.2", Outcome(cancelled=2, state="REVOKED")) == 0  # closes
    snap = ledger.snapshot("b1")
    assert snap and snap.open_children == 0 and counts_of(snap)["cancelled"] == 2


def test_what_a_watch_round_reads_and_publishes_stays_bounded(broker: BrokerConfig) -> None:
    ledger = _ledger(broker)
    urls = [f"http://example.com/{i}" for i in range(20_000)]
    children, size = monitoring_children("big", urls, 5.0, 1)  # one URL per task: the worst case
    assert size == 1 and len(children) == 20_000
    ledger.write_plan("big", children, len(urls), meta={"id": "big"}, token="t", lease=30.0)
    for index in range(300):
        fail = {"index": index, "id": f"big.{index}", "reason": "HTTP 500"}
        ledger.ended("big", index, f"big.{index}", Outcome(failed=1, failures=[fail]))
    batch = {"id": "big", "kind": "monitoring", "queue": "monitoring", "started_at": 0.0}
    meta = progress_meta(batch, ledger.snapshot("big"), ledger)
    assert meta["counts"]["failed"] == 300 and meta["counts"]["pending"] == 19_700
    assert len(meta["failures"]) == MAX_FAILURES and len(meta["recent"]) == MAX_RECENT
    assert "children" not in meta
    assert len(json.dumps(meta)) < 20_000  # kilobytes, not the 20,000 children
