"""Each host's workers and samples as the panel keeps them: the agent's ``workers`` message, the
panel's registry of rows (a stray message dropped), and the per-host chart history."""

from __future__ import annotations

from typing import Any

from pooldesk.backend.fleet.history import HostHistory
from pooldesk.backend.fleet.roster import (
    UNREACHABLE,
    FleetRegistry,
    FleetWorker,
    Roster,
    worker,
)
from pooldesk.backend.workers.info import WorkerInfo


def _row(name: str, **kw: Any) -> dict[str, Any]:
    info = WorkerInfo(
        name=name,
        hostname=f"{name}@box",
        pid=42,
        pool="prefork",
        concurrency=2,
        queues=["default"],
        state="online",
        remote=False,
        last_log=["a long log line"],
    )
    data = info.to_json()
    data.update(kw)
    return {k: v for k, v in data.items() if k not in ("last_log", "starts", "remote")}


def _sample(host: str, ts: float, cores: list[float], used: int = 2, total: int = 8) -> dict:
    return {
        "kind": "sample",
        "host": host,
        "ts": ts,
        "cpu_per_core": cores,
        "memory_used_bytes": used,
        "memory_total_bytes": total,
    }


def test_the_roster_sends_changes_at_once_and_figures_every_refresh() -> None:
    now = [100.0]
    listed: list[list[dict[str, Any]]] = [[_row("w1")]]
    fail = [False]

    def rows() -> list[dict[str, Any]]:
        if fail[0]:
            raise OSError("records unreadable")
        return listed[0]

    roster = Roster("h1", rows, check_s=1.0, refresh_s=10.0, clock=lambda: now[0])
    first = roster.due()
    assert first is not None and first["kind"] == "workers" and first["host"] == "h1"
    assert first["workers"][0]["name"] == "w1" and "last_log" not in first["workers"][0]
    assert roster.due() is None  # not time to look again
    now[0] += 1.0
    listed[0] = [_row("w1", cpu_percent=55.0)]
    assert roster.due() is None  # only a figure changed: it waits for the refresh
    now[0] += 1.0
    listed[0] = [_row("w1", state="stopping")]
    changed = roster.due()
    assert changed is not None and changed["workers"][0]["state"] == "stopping"
    now[0] += 1.0
    fail[0] = True
    assert roster.due() is None  # the listing failed: nothing sent, the agent serves on
    fail[0] = False
    now[0] += 10.0
    assert roster.due() is not None  # the refresh, unchanged or not


def test_the_registry_keeps_each_hosts_rows_and_drops_strays() -> None:
    registry = FleetRegistry()
    for host in ("h1", "h2"):
        registry.feed(_sample(host, 1.0, [5.0]))  # both online
    assert registry.feed({"kind": "workers", "host": "h1", "workers": [_row("w1"), _row("w2")]})
    assert registry.feed({"kind": "workers", "host": "h2", "workers": [_row("w1")]})
    rows = registry.workers()
    assert [(w.host, w.name) for w in rows] == [("h1", "w1"), ("h1", "w2"), ("h2", "w1")]
    assert all(isinstance(w, FleetWorker) and w.remote for w in rows)
    assert rows[0].queues == ["default"] and rows[0].concurrency == 2

    dropped = registry.dropped
    assert not registry.feed({"kind": "workers", "host": "bad host!", "workers": []})
    assert not registry.feed({"kind": "workers", "host": "h3", "workers": "nope"})
    assert registry.dropped == dropped + 2
    # A row without a name is skipped, the rest of the message kept.
    registry.feed({"kind": "workers", "host": "h1", "workers": [{"state": 1}, _row("w3")]})
    assert [w.name for w in registry.workers("h1")] == ["w3"]
    assert worker("h1", {"name": "x", "hostname": "x@b", "state": "online", "bogus": 1})

    registry.update_worker("h1", _row("w3", state="stopped"))
    assert registry.workers("h1")[0].state == "stopped"
    registry.forget_worker("h1", "w3")
    assert registry.workers("h1") == []


def test_a_silent_hosts_rows_stay_marked_unreachable() -> None:
    now = [1000.0]
    registry = FleetRegistry(online_s=5.0, clock=lambda: now[0])
    registry.feed(_sample("h1", 1.0, [5.0]))
    registry.feed({"kind": "workers", "host": "h1", "workers": [_row("w1", cpu_percent=9.0)]})
    assert registry.workers()[0].state == "online"
    now[0] += 6.0
    (row,) = registry.workers()
    assert row.state == UNREACHABLE and row.cpu_percent is None and row.pid == 42


def test_samples_become_chart_columns_per_host() -> None:
    registry = FleetRegistry()
    assert registry.feed(_sample("h1", 10.0, [10.0, 30.0]))
    assert registry.feed(_sample("h1", 11.0, [50.0, 70.0], used=4))
    registry.feed(_sample("h1", 11.0, [99.0, 99.0]))  # the same time again: not a new point
    history = registry.history
    system = history.columns("h1", "system", 60)
    assert system["t"] == [10.0, 11.0]
    assert system["cpu_percent"] == [20.0, 60.0]
    assert system["ram_used"] == [2.0, 4.0] and system["ram_available"] == [6.0, 4.0]
    cores = history.source("h1")("system.cores", 60)
    assert cores == {"t": [10.0, 11.0], "cpu0": [10.0, 50.0], "cpu1": [30.0, 70.0]}
    assert history.columns("h1", "system", 0.5)["t"] == [11.0]  # the window counts back
    assert history.columns("h2", "system", 60) == {}


def test_history_keeps_at_most_its_limit() -> None:
    history = HostHistory(keep=3)
    for i in range(5):
        history.record(_sample("h", float(i), [1.0]))
    assert history.columns("h", "system", 100)["t"] == [2.0, 3.0, 4.0]
