"""What an agent refuses even from a holder of the fleet key: never a command line of its own.

A signed command proves who sent it, not that it is sensible: the agent runs only projects
registered on its host, and no option or environment that would choose other code to run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pooldesk.backend.fleet.policy import refusal
from pooldesk.backend.projects.store import ProjectStore


@pytest.fixture
def store(tmp_path: Path) -> ProjectStore:
    return ProjectStore(tmp_path / "projects")


@pytest.mark.parametrize(
    "extra",
    [["-A", "evil:app"], ["-Aevil:app"], ["--app=evil:app"], ["-bredis://x"], ["--broker", "x"]],
)
def test_options_choosing_another_app_or_broker_are_refused_however_written(
    store: ProjectStore, extra: list[str]
) -> None:
    why = refusal({"op": "start", "name": "w", "params": {"extra_args": extra}}, "h1", store)
    assert why is not None and "not accepted through the fleet" in why


def test_harmless_options_pass(store: ProjectStore) -> None:
    request = {"op": "start", "name": "w", "params": {"extra_args": ["--without-heartbeat"]}}
    assert refusal(request, "h1", store) is None


@pytest.mark.parametrize("op", ["start", "restart"])
def test_an_environment_from_a_command_is_refused(store: ProjectStore, op: str) -> None:
    request = {"op": op, "name": "w", "params": {"extra_env": {"LD_PRELOAD": "/tmp/x.so"}}}
    why = refusal(request, "h1", store)
    assert why is not None and "env file" in why


def test_a_restart_cannot_switch_the_app_or_the_project(store: ProjectStore) -> None:
    for field, value in (("app", "evil:app"), ("project", "other")):
        request = {"op": "restart", "name": "w", "params": {field: value, "pool": "prefork"}}
        why = refusal(request, "h1", store)
        assert why is not None and why.startswith(f"{field} can only be chosen")
    assert (
        refusal({"op": "restart", "name": "w", "params": {"pool": "prefork"}}, "h1", store) is None
    )
