"""The operations API's request/tick states, with the stopping seam's fake processes and clock.

What is faked: the processes and the clock (``FakeSystem`` behind the manager's stopper), the
spawn (``WorkerManager._start_locked`` records the spec instead of starting Celery), whether the
worker runs (from the fake processes), and the pre-start check (a recorder that can refuse).
What is real: the record store on disk, the manager's stop requests and ``tick_stops``, the
operations API itself. No broker is touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from signal import SIGTERM
from typing import Any

import pytest

from pooldesk.backend.broker.resolve import BrokerConfig
from pooldesk.backend.operations import Operations, Outcome, Request, RequestError
from pooldesk.backend.projects.model import ProjectError
from pooldesk.backend.workers.info import WorkerInfo
from pooldesk.backend.workers.manager import WorkerManager
from pooldesk.backend.workers.names import free_name
from pooldesk.backend.workers.records import WorkerRecord
from pooldesk.backend.workers.reports import UNKNOWN_EXIT
from pooldesk.backend.workers.spec import WorkerSpec
from pooldesk.backend.workers.stopping import Stopper
from tests.unit.fakes import CELERY, SUPERVISOR, FakeSystem, store_with_worker

NOWHERE = BrokerConfig("redis://:hunter22pw@127.0.0.1:9/0", None, managed=False)


@dataclass
class Parts:
    ops: Operations
    manager: WorkerManager
    system: FakeSystem
    spawned: list[WorkerSpec] = field(default_factory=list)
    checked: list[WorkerSpec] = field(default_factory=list)
    refuse: str | None = None  # the check raises ProjectError with this text


@pytest.fixture
def parts(tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> Parts:
    system = FakeSystem()
    system.worker(exits_after={SIGTERM: 1.0})
    store = store_with_worker(tmp_path / "records")
    manager = WorkerManager(config=NOWHERE, store=store, start_timeout=10)
    manager.stopper = Stopper(store, 60.0, system)
    p = Parts(Operations(manager), manager, system)

    def spawn(spec: WorkerSpec) -> None:  # a record as a start saves it, no process
        p.spawned.append(spec)
        store.save(WorkerRecord(spec=spec, hostname=f"{spec.name}@here", started_at=1.0))

    def check(spec: WorkerSpec, broker_url: str | None) -> None:
        p.checked.append(spec)
        if p.refuse:
            raise ProjectError(p.refuse)

    monkeypatch.setattr(manager, "_start_locked", spawn)
    monkeypatch.setattr(
        manager, "is_running", lambda name: system.alive(CELERY) or system.alive(SUPERVISOR)
    )
    p.ops.check = check
    return p


def row(name: str, state: str, **more: Any) -> WorkerInfo:
    return WorkerInfo(name, f"{name}@here", 1, "prefork", 2, ["default"], state, False, **more)


def finals(outcomes: list[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if o.final]


# -- requests as JSON --------------------------------------------------------------------------
def test_a_request_and_an_outcome_survive_json() -> None:
    request = Request("resize", "w1", {"concurrency": 4})
    again = Request.from_json(request.to_json())
    assert again == request
    import json

    outcome = Outcome(request.id, "resize", "w1", "done", True, "w1 resized.", {"method": "live"})
    assert Outcome.from_json(json.dumps(outcome.to_json())) == outcome


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"op": "reboot", "name": "w1"}, "op 'reboot': choose one of start"),
        ({"op": "stop", "name": ""}, "name '': give the worker's name"),
        ({"op": "resize", "name": "w1"}, "params.concurrency: required for resize"),
        ({"op": "resize", "name": "w1", "params": {"concurrency": "4"}}, "not a whole number"),
        ({"op": "stop", "name": "w1", "params": {"cold": 1}}, "params.cold: 1 is not a true"),
        ({"op": "logs", "name": "w1", "params": {"lines": True}}, "params.lines: True"),
        ({"op": "stop", "name": "w1", "params": {"force": True}}, "not a parameter of stop"),
        ({"op": "stop", "name": "w1", "extra": 1}, "unknown field(s) extra"),
        ("[1, 2]", "give a JSON object"),
        ("{not json", "not JSON"),
    ],
)
def test_a_bad_request_is_refused_with_the_field_named(data: Any, message: str) -> None:
    with pytest.raises(RequestError) as caught:
        Request.from_json(data)
    assert message in str(caught.value)


# -- stop --------------------------------------------------------------------------------------
def test_a_stop_is_pending_until_a_tick_sees_it_stopped(parts: Parts) -> None:
    request = Request("stop", "w1")
    first = parts.ops.submit(request)
    assert (first.state, first.ok, first.text) == ("pending", True, "Stopping w1…")
    assert parts.ops.pending() == {"w1": "stop"} and "w1" in parts.ops.stopping()
    assert finals(parts.ops.tick()) == []
    parts.system.advance(2)
    (end,) = finals(parts.ops.tick())
    assert (end.id, end.state, end.ok) == (request.id, "done", True)
    assert end.text == "w1 stopped (after its running tasks finished)."
    assert end.data["worker"]["state"] == "stopped"
    assert parts.ops.pending() == {} and not parts.ops.busy()


def test_run_blocks_until_the_end_on_the_seams_clock(parts: Parts) -> None:
    before = parts.system.t
    end = parts.ops.run(Request("stop", "w1", {"cold": True}))  # Celery ignores SIGQUIT here
    assert (end.state, end.text) == ("done", "w1 stopped (killed: it did not exit on its own).")
    assert parts.system.t - before >= 5  # the cold grace, slept on the fake clock


def test_stop_now_hurries_a_stop_and_is_refused_without_one(parts: Parts) -> None:
    refused = parts.ops.submit(Request("stop_now", "w1"))
    assert (refused.state, refused.data["reason"]) == ("failed", "refused")
    parts.ops.submit(Request("stop", "w1"))
    assert parts.ops.submit(Request("stop_now", "w1")).state == "done"
    parts.system.advance(6)  # SIGQUIT, then the cold grace and the kill
    (end,) = finals(parts.ops.tick())
    assert end.op == "stop" and end.ok


def test_an_unknown_worker_is_refused_and_nothing_changes(parts: Parts) -> None:
    end = parts.ops.submit(Request("stop", "nobody"))
    assert (end.state, end.ok, end.data["reason"]) == ("failed", False, "refused")
    assert "no worker named 'nobody'" in end.text
    assert parts.ops.pending() == {} and parts.system.sent == []


# -- restart (and resize, fix) run the project check ----------------------------------------
def test_a_restart_stops_then_starts_then_reports_online(parts: Parts) -> None:
    request = Request("restart", "w1", {"concurrency": 2})
    assert parts.ops.submit(request).state == "pending"
    assert [s.concurrency for s in parts.checked] == [2]  # checked before anything stopped
    parts.system.advance(2)
    assert finals(parts.ops.tick(lambda: [row("w1", "starting")])) == []
    assert [s.concurrency for s in parts.spawned] == [2]  # the stopper started the new spec
    (end,) = finals(parts.ops.tick(lambda: [row("w1", "online", ready_seconds=1.5)]))
    assert (end.id, end.op, end.ok) == (request.id, "restart", True)
    assert end.text == "w1 restarted as prefork × 2, ready in 1.5 s."


@pytest.mark.parametrize(
    "request_",
    [
        Request("restart", "w1", {"pool": "gevent"}),
        Request("resize", "w1", {"concurrency": 3}),  # not answering: a restart
        Request("apply_fix", "w1", {"kind": "restart_worker", "params": {"concurrency": 3}}),
    ],
)
def test_every_restart_runs_the_project_check_and_a_refusal_stops_nothing(
    parts: Parts, request_: Request
) -> None:
    parts.refuse = "project shop: app shop.celery:app does not import: No module named shop"
    end = parts.ops.submit(request_)
    assert (end.state, end.data["reason"]) == ("failed", "invalid")
    assert "does not import" in end.text and len(parts.checked) == 1
    assert parts.system.sent == [] and parts.ops.stopping() == {} and parts.spawned == []


def test_a_bad_change_is_refused_before_the_check(parts: Parts) -> None:
    end = parts.ops.submit(Request("restart", "w1", {"pool": "solo", "concurrency": 4}))
    assert end.data["reason"] == "invalid" and "solo" in end.text
    assert parts.checked == [] and parts.system.sent == []


def test_a_stop_replaces_a_pending_restart(parts: Parts) -> None:
    restart = parts.ops.submit(Request("restart", "w1", {"concurrency": 2}))
    stop = parts.ops.submit(Request("stop", "w1"))
    parts.system.advance(2)
    outcomes = finals(parts.ops.tick())
    replaced = next(o for o in outcomes if o.id == restart.id)
    assert replaced.data["superseded_by"] == stop.id and not replaced.ok
    (end,) = [o for o in outcomes if o.id == stop.id]
    assert end.ok and parts.spawned == []  # the restart's start never happened


# -- start: watched to its end ---------------------------------------------------------------
def test_a_start_is_checked_spawned_and_watched_until_online(parts: Parts) -> None:
    request = Request("start", "w2", {"pool": "prefork", "concurrency": 2, "queues": ["a"]})
    assert parts.ops.submit(request).state == "pending"
    assert [s.name for s in parts.checked] == [s.name for s in parts.spawned] == ["w2"]
    assert parts.ops.pending() == {"w2": "start"}
    (end,) = parts.ops.tick(lambda: [row("w2", "online", ready_seconds=0.8)])
    assert end.text == "w2 is online (prefork × 2, ready in 0.8 s)." and end.ok


def test_a_crash_while_starting_waits_for_its_exit_then_reports_the_log(parts: Parts) -> None:
    parts.ops.submit(Request("start", "w2", {"queues": ["a"]}))
    unknown = row("w2", "crashed", exit=UNKNOWN_EXIT, last_log=["ImportError: shop"])
    assert parts.ops.tick(lambda: [unknown]) == []  # the supervisor has not written it yet
    known = row("w2", "crashed", exit="exit code 1", last_log=["ImportError: shop"])
    (end,) = parts.ops.tick(lambda: [known])
    assert (end.state, end.data["reason"]) == ("failed", "crashed")
    assert end.text.startswith("w2 crashed while starting (exit code 1).")
    assert "ImportError: shop" in end.text and end.data["worker"]["exit"] == "exit code 1"


def test_a_start_that_does_not_answer_in_time_fails(parts: Parts) -> None:
    parts.ops.submit(Request("start", "w2", {"timeout": 5}))
    assert parts.ops.tick(lambda: [row("w2", "starting")]) == []
    parts.system.advance(6)
    (end,) = parts.ops.tick(lambda: [row("w2", "starting")])
    assert end.text == "w2 did not answer ping in time; it is still starting."
    assert end.data["reason"] == "timeout"


def test_a_start_refused_by_the_check_spawns_nothing(parts: Parts) -> None:
    parts.refuse = "project shop: its broker does not answer"
    end = parts.ops.submit(Request("start", "w2", {"project": "shop"}))
    assert (end.state, end.data["reason"]) == ("failed", "invalid") and parts.spawned == []


def test_a_taken_name_gets_the_next_free_one_when_asked(parts: Parts) -> None:
    end = parts.ops.submit(Request("start", "w1", {"free_name": True, "wait": False}))
    assert end.name == "w1-1" and [s.name for s in parts.spawned] == ["w1-1"]


# -- quick ones, remote ones, masking -------------------------------------------------------
def test_logs_come_back_as_data_with_secrets_masked(parts: Parts) -> None:
    log = parts.manager.store.log_path("w1")
    log.write_text("ready\nconnected to redis://:hunter22pw@127.0.0.1:9/0\nsaid hunter22pw\n")
    end = parts.ops.submit(Request("logs", "w1", {"lines": 2}))
    assert end.state == "done"
    assert end.data["lines"] == ["connected to redis://:****@127.0.0.1:9/0", "said ****"]


def test_forget_is_done_at_once(parts: Parts) -> None:
    parts.system.procs.clear()
    end = parts.ops.submit(Request("forget", "w1"))
    assert (end.state, end.data) == ("done", {"forgotten": True})
    assert parts.manager.store.load("w1") is None


def test_a_remote_node_can_only_be_stopped_resized_or_requeued(parts: Parts) -> None:
    end = parts.ops.submit(Request("logs", "far@elsewhere"))
    assert end.data["reason"] == "refused" and "runs on another machine" in end.text
    bad = parts.ops.submit(Request("resize", "far@elsewhere", {"concurrency": 0, "current": 2}))
    assert "must be 1 or more" in bad.text


def test_secrets_in_a_refusal_are_masked(parts: Parts) -> None:
    parts.refuse = "the broker said: wrong password hunter22pw"
    end = parts.ops.submit(Request("restart", "w1", {}))
    assert "hunter22pw" not in end.text and "****" in end.text


def test_one_free_name_scheme() -> None:
    assert free_name("invoices", []) == "invoices-1"
    assert free_name("invoices", ["invoices-1"]) == "invoices-2"
    assert free_name("invoices-1", ["invoices-1"]) == "invoices-2"  # a fix's name, taken
    assert free_name("fit_cpu-prefork", [], keep=True) == "fit_cpu-prefork"
    assert free_name("fit_cpu-prefork", ["fit_cpu-prefork"], keep=True) == "fit_cpu-prefork-1"
    assert free_name("Bulk EU!", []) == "Bulk-EU-1"


def test_a_resize_to_the_same_size_is_done_without_a_restart(parts: Parts) -> None:
    record = parts.manager.store.load("w1")
    assert record is not None
    record.spec = WorkerSpec("w1", "threads", 4)
    parts.manager.store.save(record)
    end = parts.ops.submit(Request("resize", "w1", {"concurrency": 4}))
    assert (end.state, end.data["method"]) == ("done", "live")
    assert parts.checked == [] and parts.system.sent == []


def test_a_request_delivered_twice_runs_once(parts: Parts) -> None:
    request = Request("restart", "w1", {"concurrency": 2})
    parts.ops.submit(request)
    again = parts.ops.submit(Request.from_json(request.to_json()))
    assert (again.state, again.data) == ("pending", {"duplicate": True})
    assert len(parts.checked) == 1
