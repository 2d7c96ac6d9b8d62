"""A host's project on a broker of its own: its agent relays the workers' reports, and the panel
measures them like its own (issue 20: pool fit "for a worker on any host").

The agent's end (``EventRelay``) is fed through its tap, as its monitors' threads feed it; the
monitors themselves are stand-ins at the seam (a real one is tested on a real broker in
tests/integration/test_fleet_relay_live.py). The panel's end (``RelayedEvents``) is the real
event state, so what pool fit reads from it is what it reads from a broker.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from pooldesk.backend.broker.resolve import BrokerConfig
from pooldesk.backend.fleet import relay
from pooldesk.backend.fleet.relay import EventRelay
from pooldesk.backend.fleet.relayed import RelayedEvents
from pooldesk.backend.fleet.roster import FleetRegistry
from pooldesk.backend.telemetry.multi import MonitorSet
from pooldesk.backend.telemetry.views import EventSnapshot

NODE = "proj@web-2"
TASK = {
    "task": "proj.crunch", "queue": "crunch", "runs": 40, "wall_s": 20.0, "own_wall_s": 20.0,
    "cpu_s": 19.5, "demand_s": 19.6, "hold_s": 19.8, "hold_max_s": 0.6, "wall_max_s": 0.7,
}  # fmt: skip


def fit_event(pid: int, runs: int, recent: list[Any] | None = None) -> dict[str, Any]:
    return {
        "type": "worker-fit", "hostname": NODE, "pid": pid, "pool": "gevent",
        "timestamp": 1000.0, "local_received": 1000.1,
        "tasks": [{**TASK, "runs": runs}], "runs": recent or [],
    }  # fmt: skip


def beat(node: str = NODE, kind: str = "worker-heartbeat", **extra: Any) -> dict[str, Any]:
    return {"type": kind, "hostname": node, "pid": 7, "freq": 2.0, "timestamp": 1000.0, **extra}


class _Clock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class _Monitor:
    started: ClassVar[list[str]] = []

    def __init__(self, config: BrokerConfig, tap: Any = None) -> None:
        self.config, self.tap = config, tap

    def start(self) -> None:
        _Monitor.started.append(str(self.config.broker_url))

    def stop(self, timeout: float = 3.0) -> bool:
        return True


def agent_relay(brokers: list[BrokerConfig] | None = None) -> tuple[EventRelay, _Clock]:
    clock = _Clock()
    return EventRelay(
        "web-2",
        "redis://fleet/0",
        lambda: brokers or [],
        _Monitor,
        clock=clock,  # type: ignore[arg-type]
    ), clock


def test_the_agent_listens_on_its_projects_own_brokers_not_the_fleets() -> None:
    _Monitor.started = []
    own = BrokerConfig("amqp://proj-broker//", None, managed=False)
    fleet = BrokerConfig("redis://fleet/0", None, managed=False)  # the panel hears that one
    relayed, _ = agent_relay([own, fleet])
    relayed.due()
    assert _Monitor.started == ["amqp://proj-broker//"]


def test_worker_reports_are_folded_to_the_newest_per_process_and_task_events_stay_home() -> None:
    relayed, clock = agent_relay()
    relayed.tap(fit_event(11, 10, recent=[["a"]]))
    relayed.tap(fit_event(11, 12, recent=[["b"]]))  # cumulative: the newest says it all
    relayed.tap(fit_event(12, 5))  # another prefork child: its own totals
    relayed.tap(beat(processed=3))
    relayed.tap(beat(processed=4))
    relayed.tap({"type": "task-succeeded", "hostname": NODE, "uuid": "x"})  # rate grows w/ tasks
    relayed.tap({"type": "worker-heartbeat"})  # no node: nothing to file it under
    message = relayed.due()
    assert message is not None and message["kind"] == "events" and message["host"] == "web-2"
    events = message["events"]
    json.dumps(message)  # it travels as JSON
    fits = [e for e in events if e["type"] == "worker-fit"]
    assert [(e["pid"], e["tasks"][0]["runs"]) for e in fits] == [(11, 12), (12, 5)]
    assert fits[0]["runs"] == [["a"], ["b"]]  # the timeline's runs are carried over
    assert [e["processed"] for e in events if e["type"] == "worker-heartbeat"] == [4]
    assert all("local_received" not in e for e in events)  # the panel stamps its own
    assert not any(e["type"].startswith("task-") for e in events)
    relayed.tap(beat())
    assert relayed.due() is None  # once a second, not once per event
    clock.now += relay.EVERY_S
    again = relayed.due()
    assert again is not None and [e["type"] for e in again["events"]] == ["worker-heartbeat"]
    clock.now += relay.EVERY_S
    assert relayed.due() is None  # nothing heard: nothing sent


def test_a_message_is_bounded_and_the_oldest_reports_go_first() -> None:
    relayed, _ = agent_relay()
    for i in range(relay.MAX_EVENTS + 5):
        relayed.tap(beat(node=f"w{i}@web-2"))
    message = relayed.due()
    assert message is not None and len(message["events"]) == relay.MAX_EVENTS
    assert message["events"][-1]["hostname"] == f"w{relay.MAX_EVENTS + 4}@web-2"
    assert relayed.dropped == 5


def test_the_panel_measures_a_relayed_worker_like_one_it_hears() -> None:
    clock = _Clock(5000.0)
    relayed = RelayedEvents(clock=clock)
    assert not relayed.heard
    ok = relayed.feed(
        {
            "kind": "events",
            "host": "web-2",
            "events": [beat(kind="worker-online"), fit_event(11, 40)],
        }
    )
    assert ok and relayed.heard
    snap = relayed.snapshot()
    assert snap.workers[NODE].online  # stamped with the panel's clock, not the host's
    fit = snap.fit[NODE]
    assert fit.pool == "gevent" and fit.tasks[0].task == "proj.crunch" and fit.tasks[0].runs == 40
    clock.now += 3 * 2.0 + 1  # three heartbeats missed: offline, judged here
    assert not relayed.snapshot().workers[NODE].online


def test_malformed_relays_are_dropped_and_change_nothing() -> None:
    relayed = RelayedEvents()
    assert not relayed.feed({"kind": "events", "host": "bad host!", "events": [beat()]})
    assert not relayed.feed({"kind": "events", "host": "web-2", "events": "nope"})
    assert relayed.feed(
        {"kind": "events", "host": "web-2", "events": [{"type": "task-started"}, 3, beat(node="")]}
    )
    assert relayed.dropped == 5 and not relayed.snapshot().workers


def test_the_fleet_registry_feeds_relays_to_its_stream() -> None:
    registry = FleetRegistry()
    assert registry.feed({"kind": "events", "host": "web-2", "events": [fit_event(11, 3)]})
    assert NODE in registry.relayed.snapshot().fit
    assert not registry.feed({"kind": "events", "host": "web-2"})
    assert registry.dropped == 1


class _Direct:
    def __init__(self) -> None:
        self.config = BrokerConfig("redis://panel/0", None, managed=True)

    def start(self) -> None: ...

    def snapshot(self) -> EventSnapshot:
        state = RelayedEvents()  # any event state will do: the panel's own monitor's stand-in
        state.feed({"kind": "events", "host": "here", "events": [fit_event(99, 1)]})
        return state.snapshot()

    def timeline(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []


def test_relays_join_the_merge_once_heard_and_the_brokers_heard_directly_win() -> None:
    relayed = RelayedEvents()
    monitors = MonitorSet(_Direct())  # type: ignore[arg-type]
    monitors.attach(relayed)
    first = monitors.snapshot()
    assert first.fit[NODE].tasks[0].runs == 1  # only the direct one: nothing relayed yet
    relayed.feed({"kind": "events", "host": "web-2", "events": [fit_event(11, 40)]})
    assert monitors.snapshot().fit[NODE].tasks[0].runs == 1  # the same node heard directly wins
    relayed.feed(
        {"kind": "events", "host": "web-3", "events": [{**fit_event(5, 7), "hostname": "p@web-3"}]}
    )
    merged = monitors.snapshot()
    assert merged.fit["p@web-3"].tasks[0].runs == 7 and merged.generation != first.generation


def test_pool_fit_names_the_host_a_fleet_workers_runs_on() -> None:
    """Two hosts may each run a "reports-1": the row and the trap's text say which one."""
    from pooldesk.backend.advisor.model import Observations, Thresholds, WorkerObs
    from pooldesk.backend.fit.table import build
    from pooldesk.backend.telemetry.fitstate import TaskFit

    fit = TaskFit("shop.report", "reports", "gevent", 30, 12.0, 0.1, 0.1, 12.0, 0.4, 0.41)
    there = WorkerObs(
        "reports-1", "reports-1@web-2", True, "gevent", 10, ["reports"], "online",
        fit=[fit], host="web-2",
    )  # fmt: skip
    row = build(Observations(workers=[there], cores=2), Thresholds())[0]
    assert row.workers == ["reports-1 on web-2: gevent × 10"] and row.verdict == "trap"
    assert row.fix is not None and row.fix.params["name"] == "reports-1"  # the agent's name
    here = WorkerObs("reports-1", "reports-1@me", True, "gevent", 10, ["reports"], "online")
    assert here.shown == "reports-1"
