"""The window's one worker list: this machine's rows, each fleet host's (its agent's), and the
Celery nodes no agent speaks for, each worker once; a fix goes to the agent of its worker."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from pooldesk.backend.advisor.model import Fix
from pooldesk.backend.fleet.roster import FleetWorker, merged
from pooldesk.backend.workers.info import WorkerInfo
from pooldesk.desktop.shell.fleet_wiring import FixRouter, WorkerMerge, fix_subject


def _local(name: str, remote: bool = False, at: str = "here") -> WorkerInfo:
    state = "online-remote" if remote else "online"
    return WorkerInfo(name, f"{name}@{at}", 1, "prefork", 2, ["q"], state, remote)


def _hosted(name: str, host: str, at: str = "web-2") -> FleetWorker:
    return FleetWorker(name, f"{name}@{at}", 1, "prefork", 2, ["q"], "online", True, host=host)


def test_each_worker_is_listed_once() -> None:
    local = [_local("a"), _local("b", remote=True, at="web-2"), _local("c", remote=True)]
    fleet = [_hosted("b", "web-2"), _hosted("a", "me", at="here")]  # an agent on this machine
    rows = merged(local, fleet)
    assert [(w.name, getattr(w, "host", "")) for w in rows] == [
        ("a", ""),
        ("b", "web-2"),
        ("c", ""),
    ]


def test_a_fix_goes_to_the_agent_of_the_worker_it_names(qtbot: object) -> None:
    merge = WorkerMerge()
    router = FixRouter(merge)
    merge.set_local([_local("here-1")])
    merge.set_fleet([_hosted("web-1", "web-2"), _hosted("here-1", "web-2", at="w2")])
    sent: list[tuple[str, str]] = []
    router.hostFix.connect(lambda host, fix: sent.append((host, fix_subject(fix))))
    router.localFix.connect(lambda fix: sent.append(("", fix_subject(fix))))
    router.route(Fix("resize_worker", {"name": "web-1", "concurrency": 4}, ""))
    router.route(Fix("restart_worker", {"name": "here-1"}, ""))  # local first on a clash
    router.route(Fix("start_worker", {"name": "new", "like": "web-1"}, ""))  # beside it
    router.route(Fix("start_worker", {"name": "web-1"}, ""))  # a new worker, no like: here
    router.route(Fix("start_broker", {}, ""))
    assert sent == [("web-2", "web-1"), ("", "here-1"), ("web-2", "web-1"), ("", ""), ("", "")]
