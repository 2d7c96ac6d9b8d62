"""A project registered on another host, from this machine: every start refuses it (its paths
are there), the request the CLI and the window send is built once, and an agent's edit
(``project_add`` with ``replace``) changes only its own project and keeps the env pairs saved
there (none are ever sent)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pooldesk.backend.fleet.local import elsewhere, local_names
from pooldesk.backend.fleet.panel_projects import add_params, env_refusal
from pooldesk.backend.fleet.projects import run_project_op
from pooldesk.backend.projects.brokers import prepare_start
from pooldesk.backend.projects.model import Project, ProjectError
from pooldesk.backend.projects.store import ProjectStore

APP = "pooldesk.backend.celery_app:app"


def _project(tmp_path: Path, host: str | None, **kw: object) -> Project:
    return Project("shop", sys.executable, str(tmp_path), APP, host=host, **kw)  # type: ignore[arg-type]


def test_a_start_of_another_hosts_project_is_refused_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POOLDESK_FLEET_HOST", raising=False)
    store = ProjectStore(tmp_path / "projects")
    store.add(_project(tmp_path, "host-x"))
    assert elsewhere(store.get("shop")) == "host-x"
    with pytest.raises(ProjectError, match="project shop is registered on host host-x"):
        prepare_start("shop", "prefork", store)
    assert store.last_check("shop") is None  # no check ran here, nothing cached
    # Under host-x's own agent (it names itself so), the project is local.
    monkeypatch.setenv("POOLDESK_FLEET_HOST", "host-x")
    assert "host-x" in local_names() and elsewhere(store.get("shop")) is None


def test_the_request_takes_paths_there_and_no_env_values() -> None:
    params = add_params("host-x", "shop", None, "/srv/shop", APP, venv="/srv/venv")
    assert params["python"] == "/srv/venv/bin/python" and "env" not in params
    assert "replace" not in params
    assert add_params("host-x", "shop", "/p", "/w", APP, replace=True)["replace"] is True
    with pytest.raises(ValueError, match="srv: give an absolute path on host host-x"):
        add_params("host-x", "shop", "/p", "srv", APP)
    rule = "env values are not sent through the broker; give --env-file, a file on that host"
    assert env_refusal() == f"--env with --host: {rule}"
    assert env_refusal(cli=False) == f"extra env on another host: {rule}"


def test_an_agents_edit_replaces_only_its_own_project_and_keeps_its_env(tmp_path: Path) -> None:
    store = ProjectStore(tmp_path / "projects")
    params = add_params("host-x", "shop", sys.executable, str(tmp_path), APP, replace=True)
    refused = run_project_op("r1", "project_add", params, "host-x", store)
    assert not refused["ok"] and refused["text"] == "project shop is not registered on host host-x"
    store.add(_project(tmp_path, "host-y"))  # a mirror of another host's project
    refused = run_project_op("r2", "project_add", params, "host-x", store)
    assert not refused["ok"] and store.get("shop").host == "host-y"

    store.remove("shop")
    store.add(_project(tmp_path, "host-x", env={"TOKEN": "kept"}))
    again = run_project_op("r3", "project_add", {**params, "managed_broker": True}, "host-x", store)
    assert again["ok"], again
    edited = store.get("shop")
    assert edited.managed_broker and edited.env == {"TOKEN": "kept"}
    without = {k: v for k, v in params.items() if k != "replace"}
    clash = run_project_op("r4", "project_add", without, "host-x", store)
    assert not clash["ok"] and "already exists" in clash["text"]
