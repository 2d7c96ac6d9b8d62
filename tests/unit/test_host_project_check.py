"""A project of another fleet host: the check its agent ran is kept with the panel's mirror,
masked again before it is written, and shown in plain words ("checked on host-a 3 min ago")."""

from __future__ import annotations

import stat
from pathlib import Path

from pooldesk.backend.projects.check import CheckResult
from pooldesk.backend.projects.model import Project
from pooldesk.backend.projects.report import broker_words, checked_words
from pooldesk.backend.projects.store import HOST_CHECKS, ProjectStore
from pooldesk.backend.units import ago

SECRET = "pw-never-written"


def _project(host: str | None) -> Project:
    return Project("ledger", "/opt/py/bin/python", "/srv/ledger", "ledger.celery:app", host=host)


def test_a_host_check_is_kept_masked_beside_the_mirror_and_goes_with_it(tmp_path: Path) -> None:
    store = ProjectStore(tmp_path)
    store.add(_project("host-a"))
    # An agent masks its reply; the panel masks again, whatever it was sent.
    reply = {
        "ok": True,
        "broker_url": f"redis://:{SECRET}@10.0.0.5:6379/0",
        "result_backend": f"redis://u:{SECRET}@10.0.0.5:6379/1",
        "checked_at": 1000.0,
        "queues": ["default"],
    }
    store.save_host_check("ledger", "host-a", reply)
    path = tmp_path / HOST_CHECKS / "ledger.json"
    assert SECRET not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert store.names() == ["ledger"]  # the folder is not a project
    shown = store.shown_check(store.get("ledger"), here="panel")
    assert shown is not None and shown["checked_on"] == "host-a"
    assert shown["broker_url"] == "redis://:****@10.0.0.5:6379/0"
    assert store.last_check("ledger") is None  # the real-URL cache is never filled from a reply
    assert checked_words(shown, now=1000.0 + 185) == "checked on host-a 3 min ago"
    assert broker_words(shown, managed_broker=False) == "redis://:****@10.0.0.5:6379/0"
    assert broker_words(shown, managed_broker=True) == "managed (Pooldesk's)"
    store.remove("ledger")
    assert not path.exists()


def test_a_local_project_shows_its_own_check_masked(tmp_path: Path) -> None:
    store = ProjectStore(tmp_path)
    project = _project(None)
    store.add(project)
    assert store.shown_check(project, here="box") is None
    assert checked_words(None) == "not checked yet"
    assert broker_words(None, managed_broker=False) == "not checked yet"
    store.save_check("ledger", CheckResult(ok=True, broker_url=f"amqp://u:{SECRET}@mq//"))
    shown = store.shown_check(project, here="box")
    assert shown is not None and shown["broker_url"] == "amqp://u:****@mq//"
    assert checked_words(shown).startswith("checked on box")
    failed = {"ok": False, "error": "No module named ledger", "checked_on": "box"}
    assert broker_words(failed, managed_broker=False) == "unknown: the app did not import"


def test_ago_reads_plainly() -> None:
    assert [ago(s) for s in (-3, 2, 42, 185, 7300, 86400, 3 * 86400)] == [
        "just now",
        "just now",
        "42 s ago",
        "3 min ago",
        "2 h ago",
        "1 day ago",
        "3 days ago",
    ]


def test_what_is_no_check_is_not_kept_and_a_partial_one_gets_every_field(tmp_path: Path) -> None:
    store = ProjectStore(tmp_path)
    store.save_host_check("ledger", "host-a", {"broker_url": "redis://x"})  # no "ok"
    assert store.host_check("ledger") is None
    store.save_host_check("ledger", "host-a", {"ok": False, "error": f"redis://:{SECRET}@h/0"})
    shown = store.host_check("ledger")
    assert shown is not None and shown["error"] == "redis://:****@h/0"
    assert {"python", "celery", "broker_url", "default_queue", "tasks", "pools"} <= set(shown)
