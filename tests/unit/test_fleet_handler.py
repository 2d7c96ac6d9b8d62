"""The agent's command handler with a fake operations API: forward, answer, refuse, log."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from pooldesk.backend.fleet.handler import CommandHandler
from pooldesk.backend.fleet.sign import Verifier, seal
from pooldesk.backend.operations import Outcome, Request
from pooldesk.backend.projects.model import Project
from pooldesk.backend.projects.store import ProjectStore

KEY = bytes.fromhex("33" * 32)
OTHER = bytes.fromhex("44" * 32)


class FakeOps:
    def __init__(self) -> None:
        self.submitted: list[Request] = []
        self.later: list[Outcome] = []

    def submit(self, request: Request) -> Outcome:
        self.submitted.append(request)
        return Outcome(request.id, request.op, request.name, "pending", True, "starting")

    def tick(self) -> list[Outcome]:
        out, self.later = self.later, []
        return out


@pytest.fixture
def setup(tmp_path: Path) -> tuple[CommandHandler, FakeOps, list[tuple[str, str, dict[str, Any]]]]:
    ops = FakeOps()
    replies: list[tuple[str, str, dict[str, Any]]] = []
    store = ProjectStore(tmp_path / "projects")
    handler = CommandHandler(
        "h1",
        Verifier(KEY, "h1"),
        lambda: ops,
        lambda to, sender, outcome: replies.append((to, sender, outcome)),
        store,
        threaded=False,
    )
    yield handler, ops, replies
    handler.close()


def command(op: str, name: str, params: dict[str, Any], key: bytes = KEY, host: str = "h1"):
    body = {"op": op, "name": name, "params": params}
    return seal(key, host, "panel", "worker", body, reply_to="reply.0123456789ab")


def test_a_start_goes_to_the_api_and_every_outcome_comes_back(setup) -> None:  # type: ignore[no-untyped-def]
    handler, ops, replies = setup
    env = command("start", "w1", {"pool": "solo"})
    handler.handle(env)
    assert [r.name for r in ops.submitted] == ["w1"] and ops.submitted[0].id == env["id"]
    assert replies[-1][0] == "reply.0123456789ab" and replies[-1][2]["state"] == "pending"
    assert replies[-1][2]["text"] == "start accepted"  # at once, before the API's own
    handler.tick()
    assert replies[-1][2]["text"] == "starting"
    ops.later = [Outcome(env["id"], "start", "w1", "done", True, "w1 is online")]
    handler.tick()
    assert replies[-1][2]["state"] == "done" and not handler.busy
    ops.later = [Outcome(env["id"], "start", "w1", "done", True, "again")]
    handler.tick()
    assert len(replies) == 3  # a request that ended is not answered twice


def test_another_key_is_logged_and_not_answered(setup, caplog) -> None:  # type: ignore[no-untyped-def]
    handler, ops, replies = setup
    with caplog.at_level(logging.WARNING, "pooldesk.fleet.agent"):
        handler.handle(command("start", "w1", {"env_secret": "hunter2"}, key=OTHER))
    assert not ops.submitted and not replies and handler.refusals == 1
    assert "signature" in caplog.text and "hunter2" not in caplog.text


def test_wrong_host_and_replay_are_answered_with_a_refusal(setup) -> None:  # type: ignore[no-untyped-def]
    handler, ops, replies = setup
    handler.handle(command("stop", "w1", {}, host="h2"))
    assert replies[-1][2]["data"]["reason"] == "wrong_host" and not replies[-1][2]["ok"]
    env = command("stop", "w1", {})
    handler.handle(env)
    handler.handle(env)
    assert replies[-1][2]["data"]["reason"] == "replay"
    assert len(ops.submitted) == 1


def test_malformed_json_is_refused_quietly(setup) -> None:  # type: ignore[no-untyped-def]
    handler, ops, replies = setup
    handler.handle(b"{nope")
    assert handler.refusals == 1 and not replies and not ops.submitted


def test_only_projects_of_this_host_start(setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    handler, ops, replies = setup
    here = Project("mine", "/usr/bin/python3", str(tmp_path), "proj", host="h1")
    there = Project("theirs", "/usr/bin/python3", str(tmp_path), "proj", host="h2")
    handler.store.add(here)
    handler.store.add(there)
    for project in ("theirs", "unknown"):
        handler.handle(command("start", "w1", {"project": project}))
        assert "not registered on host h1" in replies[-1][2]["text"]
    handler.handle(command("start", "w1", {"project": "mine", "app": "evil:app"}))
    assert "runs proj" in replies[-1][2]["text"]
    handler.handle(command("start", "w1", {"extra_args": ["--broker=redis://x"]}))
    assert "not accepted" in replies[-1][2]["text"]
    assert not ops.submitted
    handler.handle(command("start", "w1", {"project": "mine"}))
    assert ops.submitted[-1].params["app"] == "proj"  # the project's app, from this host


def test_a_bad_request_is_answered_invalid(setup) -> None:  # type: ignore[no-untyped-def]
    handler, ops, replies = setup
    handler.handle(command("start", "w1", {"concurrency": "many"}))
    assert replies[-1][2]["data"]["reason"] == "invalid" and not ops.submitted


def test_an_agent_without_a_key_refuses_everything(tmp_path: Path) -> None:
    replies: list[Any] = []
    handler = CommandHandler("h1", None, FakeOps, lambda *a: replies.append(a), threaded=False)
    handler.handle(command("stop", "w1", {}))
    assert handler.refusals == 1 and not replies
    handler.close()


class SlowOps(FakeOps):
    """A start whose project check takes a while (seconds on a loaded host)."""

    def submit(self, request: Request) -> Outcome:
        import time

        time.sleep(0.5)
        return super().submit(request)


def test_a_slow_operation_does_not_hold_up_the_agent_loop(tmp_path: Path) -> None:
    import time

    ops = SlowOps()
    replies: list[tuple[str, str, dict[str, Any]]] = []
    handler = CommandHandler(
        "h1", Verifier(KEY, "h1"), lambda: ops, lambda *a: replies.append(a),
        ProjectStore(tmp_path / "projects"),
    )  # fmt: skip
    try:
        began = time.monotonic()
        handler.handle(command("start", "w1", {}))
        assert time.monotonic() - began < 0.2  # the loop goes on sampling meanwhile
        assert [r[2]["text"] for r in replies] == ["start accepted"]
        deadline = time.monotonic() + 5
        while len(replies) < 2:
            assert time.monotonic() < deadline, "the API's outcome never came back"
            handler.tick()
            time.sleep(0.05)
        assert replies[-1][2]["text"] == "starting" and handler.busy
    finally:
        handler.close()
