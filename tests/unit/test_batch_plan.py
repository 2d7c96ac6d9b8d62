"""How a monitoring batch is planned, without a broker (the ledger on a real Redis is in
tests/integration/test_batch_ledger.py)."""

from __future__ import annotations

from pooldesk.backend.batches.plan import auto_urls_per_task


def test_urls_per_task_is_chosen_from_the_list_size() -> None:
    assert auto_urls_per_task(1) == 1
    assert auto_urls_per_task(60) == 3
    assert auto_urls_per_task(1_000) == 50
    assert auto_urls_per_task(100_000) == 100
