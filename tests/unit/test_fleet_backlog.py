"""The agent's backlog sampler (fake clock, fake status at the seam) and the panel's keeping."""

from __future__ import annotations

import json

from pooldesk.backend.broker.resolve import BrokerConfig
from pooldesk.backend.broker.status import BrokerStatus
from pooldesk.backend.fleet.backlog import KIND, BacklogSampler, describe
from pooldesk.backend.fleet.roster import FleetRegistry

FLEET = "redis://127.0.0.1:7000/0"
OWN = "redis://:s3cret-pw@10.0.0.5:6379/2"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _config(url: str) -> BrokerConfig:
    return BrokerConfig(broker_url=url, result_backend=url, managed=False)


def _sampler(clock: Clock, calls: list, up: bool = True) -> BacklogSampler:
    def status(config: BrokerConfig, queues: tuple[str, ...]) -> BrokerStatus:
        calls.append((config.broker_url, queues))
        if not up:
            return BrokerStatus(
                url=config.masked_url,
                managed=False,
                up=False,
                error=f"broker unreachable at {config.masked_url}: refused",
            )
        return BrokerStatus(
            url=config.masked_url, managed=False, up=True, queues={q: 120 for q in queues}
        )

    projects = [
        ("shop", _config(OWN), ("reports",)),
        ("fleetproj", _config(FLEET), ("default",)),  # on the fleet's own broker: the panel's
    ]
    return BacklogSampler(
        "web-2", FLEET, lambda: projects, status, every_s=5.0, clock=clock, run=lambda f: f()
    )


def test_samples_every_5_s_own_brokers_only_masked() -> None:
    clock, calls = Clock(), []
    sampler = _sampler(clock, calls)
    body = sampler.due()
    assert body is not None and body["kind"] == KIND and body["host"] == "web-2"
    assert body["brokers"] == [
        {
            "project": "shop",
            "broker": "redis://:****@10.0.0.5:6379/2",
            "up": True,
            "error": None,
            "queues": {"reports": 120},
        }
    ]
    assert calls == [(OWN, ("reports",))]  # the fleet's own broker is not read
    assert "s3cret-pw" not in json.dumps(body)
    clock.now += 4.9
    assert sampler.due() is None and len(calls) == 1
    clock.now += 0.2
    assert sampler.due() is not None and len(calls) == 2


def test_a_down_broker_travels_masked() -> None:
    body = _sampler(Clock(), [], up=False).due()
    assert body is not None
    entry = body["brokers"][0]
    assert entry["up"] is False and "unreachable" in entry["error"]
    assert "s3cret-pw" not in json.dumps(body)


def test_nothing_to_say_without_a_broker_of_its_own() -> None:
    sampler = BacklogSampler(
        "web-2", FLEET, lambda: [("p", _config(FLEET), ("q",))], run=lambda f: f()
    )
    assert sampler.due() is None


def _sample(host: str) -> dict:
    return {"kind": "sample", "host": host, "ts": 1.0, "cpu_per_core": [1.0]}


def test_panel_keeps_it_and_marks_a_silent_host_stale() -> None:
    clock = Clock()
    registry = FleetRegistry(online_s=5.0, clock=clock)
    body = _sampler(Clock(), []).due()
    assert registry.feed(_sample("web-2")) and registry.feed(body)
    (entry,) = registry.backlogs.entries()
    assert entry["host"] == "web-2" and entry["queues"] == {"reports": 120}
    assert entry["stale"] is False
    assert describe(entry) == "shop on web-2: up, reports 120 waiting"
    clock.now += 30  # the agent went silent
    (entry,) = registry.backlogs.entries()
    assert entry["stale"] is True
    assert describe(entry) == "shop on web-2: unreachable (host silent)"


def test_malformed_backlog_is_dropped() -> None:
    registry = FleetRegistry()
    assert not registry.feed({"kind": KIND, "host": "bad host!", "brokers": []})
    assert not registry.feed({"kind": KIND, "host": "web-2", "brokers": "x"})
    registry.feed(
        {
            "kind": KIND,
            "host": "web-2",
            "brokers": [
                {"project": "a", "queues": {"q": -1}},
                {"project": "b", "queues": {"q": "many"}},
                {"project": "c", "queues": {"q": 3}, "up": "yes"},
            ],
        }
    )
    (entry,) = registry.backlogs.entries()
    assert entry["project"] == "c" and entry["up"] is False


def test_reads_run_off_the_agents_loop_one_round_at_a_time() -> None:
    """An unreachable broker costs a connect timeout: the loop must not wait for it."""
    clock, calls, rounds = Clock(), [], []
    sampler = _sampler(clock, calls)
    sampler.run = rounds.append  # started, not yet run: as a slow thread would be
    assert sampler.due() is None and len(rounds) == 1 and calls == []  # the loop goes on
    clock.now += 5.0
    assert sampler.due() is None and len(rounds) == 1  # one round at a time
    rounds[0]()  # the round ends
    body = sampler.due()
    assert body is not None and body["brokers"][0]["queues"] == {"reports": 120}
    assert sampler.due() is None  # handed over once
    clock.now += 5.0
    sampler.due()
    assert len(rounds) == 2  # the next round starts on time
