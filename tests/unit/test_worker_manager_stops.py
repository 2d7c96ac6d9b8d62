"""``WorkerManager.tick_stops``: the window's non-blocking stop, with fake processes.

The manager's own facts (is Celery alive) still come from the real process table; the fake
pids (100, 200) are recorded with an impossible creation time, so they read as gone. Nothing
here touches a broker: a stopped worker is never pinged.
"""

from __future__ import annotations

from pathlib import Path
from signal import SIGTERM

import pytest

from pooldesk.backend.broker.resolve import BrokerConfig
from pooldesk.backend.workers.manager import WorkerError, WorkerManager
from pooldesk.backend.workers.spec import WorkerSpec
from pooldesk.backend.workers.stopping import Stopper
from tests.unit.fakes import FakeSystem, store_with_worker

NOWHERE = BrokerConfig("redis://127.0.0.1:9/0", None, managed=False)


@pytest.fixture
def parts(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[WorkerManager, FakeSystem, list[tuple[WorkerSpec, bool]]]:
    system = FakeSystem()
    system.worker(exits_after={SIGTERM: 1.0})
    store = store_with_worker(tmp_path / "records")  # not under home: nothing real to kill
    manager = WorkerManager(config=NOWHERE, store=store)
    manager.stopper = Stopper(store, 60.0, system)
    started: list[tuple[WorkerSpec, bool]] = []

    def start(
        spec: WorkerSpec, wait: bool = True, timeout: float | None = None, block: bool = True
    ) -> None:
        started.append((spec, wait))

    monkeypatch.setattr(manager, "start", start)
    return manager, system, started


def test_a_restart_starts_its_spec_once_stopped(
    parts: tuple[WorkerManager, FakeSystem, list[tuple[WorkerSpec, bool]]],
) -> None:
    manager, system, started = parts
    spec = WorkerSpec("w1", "prefork", 2)
    manager.request_stop("w1", then=spec, op="restart")
    assert manager.tick_stops() == [] and started == []
    system.advance(2)
    (event,) = manager.tick_stops()
    assert (event.kind, event.op, event.how, event.then) == ("stopped", "restart", "warm", spec)
    assert started == [(spec, False)]  # not waited for: the window watches it come online
    assert manager.stopper.stopping() == {}


def test_a_plain_stop_reports_its_sentence(
    parts: tuple[WorkerManager, FakeSystem, list[tuple[WorkerSpec, bool]]],
) -> None:
    manager, system, started = parts
    manager.request_stop("w1")
    system.advance(2)
    (event,) = manager.tick_stops()
    assert event.text == "w1 stopped (after its running tasks finished)."
    assert started == [] and manager.info("w1").state == "stopped"


def test_a_restart_that_cannot_start_is_a_failure(
    parts: tuple[WorkerManager, FakeSystem, list[tuple[WorkerSpec, bool]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manager, system, _ = parts

    def refuse(
        spec: WorkerSpec, wait: bool = True, timeout: float | None = None, block: bool = True
    ) -> None:
        raise WorkerError("a worker named w1@here already answers on this broker")

    monkeypatch.setattr(manager, "start", refuse)
    manager.request_stop("w1", then=WorkerSpec("w1"), op="fix")
    system.advance(2)
    (event,) = manager.tick_stops()
    assert (event.kind, event.op) == ("failed", "fix")
    assert isinstance(event.error, WorkerError) and "already answers" in event.text


def test_an_unknown_worker_is_a_persons_error(
    parts: tuple[WorkerManager, FakeSystem, list[tuple[WorkerSpec, bool]]],
) -> None:
    manager, _, _ = parts
    with pytest.raises(WorkerError, match="no worker named 'nobody'"):
        manager.request_stop("nobody")
