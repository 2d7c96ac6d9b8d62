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


def test_worker_list_json_names_the_host() -> None:
    """``worker list --json``: ``host`` is this machine for a local worker (whatever its node
    name says), the part after ``@`` for a remote Celery node."""
    import socket

    from pooldesk.backend.cli.worker_cmds import JSON_FIELDS, worker_json

    local = WorkerInfo("w1", "w1@old-name", 1, "prefork", 2, ["q"], "online", False)
    assert worker_json(local)["host"] == socket.gethostname()
    assert worker_json(_remote("far@host-b"))["host"] == "host-b"
    assert set(worker_json(local)) == set(JSON_FIELDS)
