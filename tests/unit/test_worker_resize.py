"""One rule for "can this worker be resized live", and the spec a restart starts."""

from __future__ import annotations

import pytest

from pooldesk.backend.workers.spec import LIVE_RESIZE_POOLS, WorkerSpec, can_resize_live, changed


@pytest.mark.parametrize(
    ("pool", "autoscale", "state", "live"),
    [
        ("prefork", None, "online", True),
        ("gevent", None, "online", True),
        ("gevent", None, "online-remote", True),
        ("threads", None, "online", False),  # a restart
        ("solo", None, "online", False),
        ("threads", None, "online-remote", False),  # refused: restart it on its machine
        ("prefork", [4, 1], "online", False),  # autoscaled: its size follows the load
        ("prefork", None, "starting", False),  # not answering yet: a restart
        ("prefork", None, "stopping", False),
        (None, None, "online-remote", False),  # the worker did not say
    ],
)
def test_can_resize_live(pool: str | None, autoscale: object, state: str, live: bool) -> None:
    assert can_resize_live(pool, autoscale, state) is live


def test_live_pools_are_the_ones_that_autoscale() -> None:
    assert LIVE_RESIZE_POOLS == ("prefork", "gevent")
    for pool in ("threads", "solo"):
        assert WorkerSpec("w", pool, 1, autoscale=(4, 1)).problems()


def test_changed_keeps_what_is_not_given_and_drops_autoscale_it_cannot_have() -> None:
    spec = WorkerSpec("w", "gevent", 20, ("a",), autoscale=(40, 10), loglevel="DEBUG")
    assert changed(spec) == spec
    assert changed(spec, concurrency=5).concurrency == 5
    assert changed(spec, queues=("b",)).queues == ("b",)
    assert changed(spec, pool="prefork").autoscale == (40, 10)
    threads = changed(spec, pool="threads", time_limit=5.0)
    assert (threads.pool, threads.autoscale, threads.time_limit) == ("threads", None, 5.0)
    assert threads.loglevel == "DEBUG"
