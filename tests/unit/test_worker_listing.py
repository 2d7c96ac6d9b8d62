"""A remote worker sent a shutdown shows as stopping until it is gone (or watched too long)."""

from __future__ import annotations

from pooldesk.backend.workers.info import WorkerInfo
from pooldesk.backend.workers.listing import REMOTE_STOP_WATCH_S, RemoteStops


def _remote(hostname: str) -> WorkerInfo:
    return WorkerInfo(
        hostname.split("@")[0], hostname, 1, "gevent", 5, ["q"], "online-remote", True
    )


def test_remote_stops_mark_until_gone_or_too_long() -> None:
    now = [100.0]
    stops = RemoteStops(clock=lambda: now[0])
    stops.sent("a@far")
    stops.sent("b@far")
    rows = stops.mark([_remote("a@far"), _remote("b@far"), _remote("c@far")])
    assert [(w.state, w.progress) for w in rows] == [
        ("stopping", "shutdown sent"),
        ("stopping", "shutdown sent"),
        ("online-remote", None),
    ]
    stops.mark([_remote("b@far")])  # a is gone from the broker: no longer watched
    assert stops.hosts() == ["b@far"]
    now[0] += REMOTE_STOP_WATCH_S + 1  # b may be finishing long tasks: stop saying so
    assert stops.mark([_remote("b@far")])[0].state == "online-remote"
    assert stops.hosts() == []
