"""A preset's host: saved with the preset in settings.json and read back as saved, absent in
files written before hosts existed (this machine), and checked with the fleet's own host rule
(``HOST_RE``) so a preset never names a host no agent could answer to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pooldesk.backend import paths
from pooldesk.backend import settings as settings_mod
from pooldesk.backend.workers import presets as presets_mod

ORCH = {"name": "Orch", "pool": "solo", "concurrency": 1, "queues": ["o"]}


def test_a_preset_host_round_trips_through_the_settings_file(home: Path) -> None:
    presets = [{**ORCH, "host": "host-a"}, dict(ORCH, name="Here")]
    settings_mod.save(settings_mod.Settings(presets=presets))
    loaded = settings_mod.load(env=False)
    assert loaded.message is None and loaded.settings.presets == presets
    assert [presets_mod.host_of(p) for p in loaded.settings.presets] == ["host-a", ""]


def test_a_file_from_before_hosts_loads_with_every_preset_here(home: Path) -> None:
    paths.settings_file().parent.mkdir(parents=True, exist_ok=True)
    paths.settings_file().write_text(json.dumps({"version": 1, "presets": [ORCH]}))
    loaded = settings_mod.load(env=False)
    assert loaded.message is None and loaded.settings.presets == [ORCH]
    assert presets_mod.host_of(loaded.settings.presets[0]) == ""
    assert presets_mod.problems(loaded.settings.presets[0]) == []


@pytest.mark.parametrize("host", ["host-a", "web01.example.com", "a", "A_1", "x" * 64])
def test_fleet_host_names_are_accepted(host: str) -> None:
    assert presets_mod.host_problem(host) is None
    assert presets_mod.problems({**ORCH, "host": host}) == []


@pytest.mark.parametrize("host", ["bad host", "-lead", ".dot", "x" * 65, "a/b", "h;rm"])
def test_other_host_names_are_refused_in_plain_words(host: str) -> None:
    [problem] = presets_mod.problems({**ORCH, "host": host})
    assert problem.startswith(f"host {host!r} is not a host name: use 1-64 letters")


def test_a_hand_edited_bad_preset_host_is_named_when_the_file_loads(home: Path) -> None:
    """Refused at load, in the settings' own words, not at the first start on a far host."""
    paths.settings_file().parent.mkdir(parents=True, exist_ok=True)
    bad = [dict(ORCH), {**ORCH, "name": "Far", "host": "h;rm"}]
    paths.settings_file().write_text(json.dumps({"version": 1, "presets": bad}))
    problems = settings_mod.Settings(presets=bad).validate()
    assert problems == [
        "presets[1]: host 'h;rm' is not a host name: use 1-64 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit"
    ]
    loaded = settings_mod.load(env=False)
    assert loaded.message is not None and "presets[1]" in loaded.message
    assert loaded.settings.presets == []  # the defaults: the bad file was set aside


def test_a_presets_project_is_checked_against_its_host(home: Path) -> None:
    """A mirror of host-a's project (``host`` set) starts only there; a project of this
    machine only here; the demo, and a project no longer saved, anywhere (its start says)."""
    from pooldesk.backend.projects.model import Project
    from pooldesk.backend.projects.store import ProjectStore

    store = ProjectStore()
    store.add(Project("shop", "/srv/venv/bin/python", "/srv/shop", "shop", host="host-a"))
    store.add(Project("ledger", "/usr/bin/python3", "/tmp", "ledger"))
    check = presets_mod.project_host_problems
    assert check({**ORCH, "project": "shop", "host": "host-a"}) == []
    assert check({**ORCH, "project": "ledger"}) == []
    assert check({**ORCH, "project": "shop"}) == [
        "shop is registered on host-a, not here: set Host to host-a, or pick another project"
    ]
    assert check({**ORCH, "project": "shop", "host": "host-b"}) == [
        "shop is registered on host-a, not on host-b: set Host to host-a, or pick another project"
    ]
    assert check({**ORCH, "project": "ledger", "host": "host-a"})[0].startswith(
        "ledger is registered on this machine, not on host-a: set Host to This machine"
    )
    assert check({**ORCH, "project": "demo", "host": "host-a"}) == []
    assert check({**ORCH, "project": "gone", "host": "host-a"}) == []
