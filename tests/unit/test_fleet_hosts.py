"""The panel's host registry: online by last message, rows for ``host list``, junk dropped."""

from __future__ import annotations

from pathlib import Path

from pooldesk.backend.fleet.hosts import HostRegistry
from pooldesk.backend.fleet.probe import Sampler, announce


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_samples_make_rows_and_silence_makes_a_host_offline(tmp_path: Path) -> None:
    clock = Clock()
    reg = HostRegistry(online_s=5, clock=clock)
    assert reg.feed(announce("h1", tmp_path))
    sample = Sampler("h1", tmp_path).sample(workers=3)
    assert reg.feed(sample)
    row = reg.rows()[0]
    assert row["name"] == "h1" and row["online"] and row["workers"] == 3
    assert row["cores"] >= 1 and row["memory_total_bytes"] > row["memory_used_bytes"] > 0
    assert row["cpu_percent"] is not None and row["version"]
    clock.now += 5.5
    assert not reg.rows()[0]["online"]
    reg.feed({"kind": "bye", "host": "h1", "ts": 1.0})
    assert not reg.online("h1")


def test_junk_is_dropped_and_counted() -> None:
    reg = HostRegistry()
    for junk in (
        None,
        [],
        {"kind": "sample"},
        {"kind": "x", "host": "h"},
        {"kind": "sample", "host": "bad name"},
        {"kind": "sample", "host": "h", "cpu_per_core": ["a"]},
        {"kind": "sample", "host": "h", "workers": "many"},
        {"kind": "sample", "host": "h", "cpu_per_core": [1.0] * 5000},
    ):
        assert not reg.feed(junk)
    assert reg.dropped == 8 and reg.names() == []


def test_a_sample_is_small(tmp_path: Path) -> None:
    import json

    size = len(json.dumps(Sampler("h1", tmp_path).sample(workers=2)))
    assert size < 600


def test_hosts_heard_before_are_listed_offline_until_heard_again(tmp_path: Path) -> None:
    clock = Clock()
    reg = HostRegistry(online_s=5, clock=clock)
    reg.feed(Sampler("h1", tmp_path).sample(workers=1))
    saved = reg.memory()
    clock.now += 60
    later = HostRegistry(online_s=5, clock=clock)
    later.remember({**saved, "bad name": {"last_seen": 1}, "h2": {"last_seen": "x"}, "h3": []})
    (row,) = later.rows()
    assert row["name"] == "h1" and not row["online"] and row["last_seen"] == 1000.0
    assert row["cores"] == saved["h1"]["cores"] and row["workers"] is None
    later.feed(Sampler("h1", tmp_path).sample(workers=2))
    assert later.rows()[0]["online"] and later.rows()[0]["workers"] == 2
    later.remember(None)  # a missing or unreadable file: nothing
