"""The stop escalation (warm → cold → kill) through a fake clock and fake processes.

Timings and texts are the ones a person sees: "waiting for tasks, 12 of 60 s", then
"abandoning tasks (back to the queue)" after the stop timeout, SIGKILL to the group
``COLD_GRACE_S`` later, and "NAME stopped (…)." at the end.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from pooldesk.backend.workers.escalation import COLD_GRACE_S, REAP_GRACE_S, StopSequence
from pooldesk.backend.workers.spec import WorkerSpec
from pooldesk.backend.workers.stopping import ENDINGS, StopEvent, Stopper
from tests.unit.fakes import CELERY, SUPERVISOR, FakeSystem, store_with_worker

TERM, QUIT = signal.SIGTERM, signal.SIGQUIT
TIMEOUT = 60.0


@pytest.fixture
def system() -> FakeSystem:
    return FakeSystem()


def _stopper(tmp_path: Path, system: FakeSystem, celery: bool = True) -> Stopper:
    return Stopper(store_with_worker(tmp_path / "workers", celery=celery), TIMEOUT, system)


def _kinds(events: list[StopEvent]) -> list[str]:
    return [e.kind for e in events]


def test_warm_then_timeout_escalates_to_cold_then_kill(tmp_path: Path, system: FakeSystem) -> None:
    system.worker()  # Celery ignores TERM and QUIT: a task that never ends
    stopper = _stopper(tmp_path, system)
    stopper.request("w1")
    assert system.sent == [(CELERY, TERM)]  # Celery's main process only: warm
    assert stopper.store.load("w1").stop_requested_at is not None  # type: ignore[union-attr]
    assert stopper.progress("w1") == "waiting for tasks, 0 of 60 s"
    assert stopper.tick() == []  # nothing changed yet

    system.advance(12)
    assert stopper.tick() == [StopEvent("w1", "progress", "waiting for tasks, 12 of 60 s")]
    assert stopper.stopping() == {"w1": "waiting for tasks, 12 of 60 s"}

    system.advance(TIMEOUT - 12 - 0.1)
    assert _kinds(stopper.tick()) == ["progress"]  # 60 of 60 s, not yet cold
    assert system.signals == [TERM]
    system.advance(0.1)
    events = stopper.tick()
    assert events == [
        StopEvent("w1", "escalated", "abandoning tasks (back to the queue)", how="cold")
    ]
    assert system.sent[-1] == (CELERY, QUIT)

    system.advance(COLD_GRACE_S - 0.1)
    assert stopper.tick() == [] and system.killed_groups == []
    system.advance(0.1)
    (event,) = stopper.tick()
    assert system.killed_groups == [SUPERVISOR]  # the whole group, supervisor included
    assert system.swept == [SUPERVISOR]
    assert (event.kind, event.how) == ("stopped", "killed")
    assert event.text == "w1 stopped (killed: it did not exit on its own)."
    assert stopper.progress("w1") is None and "w1" not in stopper


def test_dies_during_warm_is_a_warm_stop(tmp_path: Path, system: FakeSystem) -> None:
    system.worker(exits_after={TERM: 3.0})  # its running task takes 3 s more
    stopper = _stopper(tmp_path, system)
    stopper.request("w1")
    system.advance(3.0)  # Celery gone; the supervisor leaves 0.5 s later
    assert stopper.tick() == [StopEvent("w1", "progress", "cleaning up")]
    system.advance(0.5)
    (event,) = stopper.tick()
    assert (event.kind, event.how, event.op) == ("stopped", "warm", "stop")
    assert event.text == f"w1 stopped ({ENDINGS['warm']})."
    assert system.signals == [TERM] and system.killed_groups == []
    assert system.swept == [SUPERVISOR]  # orphaned pool children are always swept


def test_already_dead_worker(tmp_path: Path, system: FakeSystem) -> None:
    system.worker(celery=False, supervisor=False)
    stopper = _stopper(tmp_path, system)
    stopper.request("w1")
    assert system.sent == []  # nothing to ask
    assert stopper.progress("w1") == "cleaning up"
    (event,) = stopper.tick()
    assert (event.kind, event.how) == ("stopped", "gone")
    assert event.text == "w1 stopped (it had already exited)."


def test_supervisor_that_stays_is_killed_after_the_reap_grace(
    tmp_path: Path, system: FakeSystem
) -> None:
    system.worker(exits_after={TERM: 1.0})
    system.supervisor_follows = None  # e.g. stuck writing the exit record
    stopper = _stopper(tmp_path, system)
    stopper.request("w1")
    system.advance(1.0)
    assert _kinds(stopper.tick()) == ["progress"]  # cleaning up
    system.advance(REAP_GRACE_S - 0.1)
    assert stopper.tick() == []
    system.advance(0.1)
    (event,) = stopper.tick()
    assert event.how == "warm" and system.killed_groups == [SUPERVISOR]


def test_no_pid_record_kills_the_supervisor_group_at_once(
    tmp_path: Path, system: FakeSystem
) -> None:
    system.worker(celery=False)  # the supervisor never got to write Celery's pid
    system.supervisor_follows = None
    stopper = _stopper(tmp_path, system, celery=False)
    stopper.request("w1")
    assert system.killed_groups == [SUPERVISOR] and system.sent == []
    (event,) = stopper.tick()
    assert (event.kind, event.how) == ("stopped", "gone")


def test_cold_stop_abandons_tasks_at_once(tmp_path: Path, system: FakeSystem) -> None:
    system.worker(exits_after={QUIT: 0.5})
    stopper = _stopper(tmp_path, system)
    stopper.request("w1", "cold")
    assert system.sent == [(CELERY, QUIT)]  # no SIGTERM, no waiting
    assert stopper.progress("w1") == "abandoning tasks (back to the queue)"
    system.advance(1.0)
    (event,) = stopper.tick()
    assert (event.kind, event.how) == ("stopped", "cold")
    assert event.text == "w1 stopped (without waiting; its running tasks went back to the queue)."


def test_hurry_goes_cold_now(tmp_path: Path, system: FakeSystem) -> None:
    system.worker(exits_after={QUIT: 0.2})
    stopper = _stopper(tmp_path, system)
    stopper.request("w1")
    system.advance(5)
    assert stopper.hurry("w1") and not stopper.hurry("nobody")
    assert system.signals == [TERM, QUIT]
    assert stopper.tick() == [
        StopEvent("w1", "escalated", "abandoning tasks (back to the queue)", how="cold")
    ]
    system.advance(1)  # Celery leaves 0.2 s after QUIT, the supervisor 0.5 s after it
    (event,) = stopper.tick()
    assert event.how == "cold"


def test_restart_after_stop_carries_the_spec_and_the_op(tmp_path: Path, system: FakeSystem) -> None:
    system.worker(exits_after={TERM: 1.0})
    stopper = _stopper(tmp_path, system)
    then = WorkerSpec("w1", "prefork", 4)
    stopper.request("w1", then=then, op="restart")
    assert stopper.op("w1") == "restart"
    system.advance(2)
    (event,) = stopper.tick()
    assert (event.kind, event.op, event.then) == ("stopped", "restart", then)


def test_a_second_request_replaces_the_plan_without_a_second_signal(
    tmp_path: Path, system: FakeSystem
) -> None:
    system.worker()
    stopper = _stopper(tmp_path, system)
    first = stopper.request("w1", then=WorkerSpec("w1"), op="restart")
    again = stopper.request("w1")  # a plain stop: no restart afterwards
    assert again is first and system.signals == [TERM]
    assert stopper.op("w1") == "stop"
    stopper.request("w1", "cold")  # cold while warm: hurries it
    assert system.signals == [TERM, QUIT]
    system.advance(COLD_GRACE_S)
    (event,) = stopper.tick()
    assert (event.how, event.then, event.op) == ("killed", None, "stop")


def test_unknown_worker_is_refused(tmp_path: Path, system: FakeSystem) -> None:
    stopper = _stopper(tmp_path, system)
    with pytest.raises(KeyError):
        stopper.request("nobody")


def test_run_blocks_until_stopped_on_the_fake_clock(tmp_path: Path, system: FakeSystem) -> None:
    system.worker()  # never leaves by itself: the full escalation
    stopper = _stopper(tmp_path, system)
    began = system.t
    stopper.request("w1", timeout=10)
    event = stopper.run("w1", poll=0.5)
    assert event.how == "killed"
    assert system.t - began == pytest.approx(10 + COLD_GRACE_S, abs=0.6)
    assert stopper.run("w1").how == "gone"  # nothing under way: returns at once


def test_several_stops_tick_together(tmp_path: Path, system: FakeSystem) -> None:
    system.worker(exits_after={TERM: 1.0})
    store = store_with_worker(tmp_path / "workers", "a")
    store_with_worker(tmp_path / "workers", "b", celery=False, supervisor=False)
    stopper = Stopper(store, TIMEOUT, system)
    stopper.request("a")
    stopper.request("b")
    assert set(stopper.stopping()) == {"a", "b"}
    assert [(e.name, e.kind) for e in stopper.tick()] == [("b", "stopped")]
    system.advance(2)
    assert [(e.name, e.kind, e.how) for e in stopper.tick()] == [("a", "stopped", "warm")]


def test_a_failing_step_is_reported_and_dropped(tmp_path: Path, system: FakeSystem) -> None:
    system.worker()
    stopper = _stopper(tmp_path, system)
    stopper.request("w1")

    def broken(pid: int | None, create_time: float | None = None) -> bool:
        raise OSError("no /proc")

    system.alive = broken  # type: ignore[method-assign]
    assert stopper.tick() == [StopEvent("w1", "failed", "no /proc")]
    assert "w1" not in stopper


def test_sequence_describe(system: FakeSystem) -> None:
    system.worker(exits_after={TERM: 0.0})
    sequence = StopSequence(CELERY, None, SUPERVISOR, timeout=30, system=system).begin()
    assert sequence.describe() == "waiting for tasks, 0 of 30 s"  # begin() only signals
    assert sequence.wait(poll=0.1) == "warm"
    assert sequence.describe() == "cleaning up" and sequence.phase == "done"


def test_a_killed_celery_that_lingers_is_waited_for_before_stopped(
    tmp_path: Path, system: FakeSystem
) -> None:
    """SIGKILL to the group: the supervisor (our child, reaped at once) is gone before Celery,
    whose end the kernel finishes a moment later. "Stopped" waits for both (measured: a worker
    that read as still stopping right after "stopped (killed…)" failed the stop's last check)."""
    system.worker()  # Celery ignores TERM and QUIT
    stopper = _stopper(tmp_path, system)
    stopper.request("w1", "cold")
    plain_kill = system.kill_group

    def kill_but_celery_lingers(pgid: int | None) -> None:
        plain_kill(pgid)
        celery = system.procs[CELERY]
        celery.alive, celery.dies_at = True, system.t + 0.3

    system.kill_group = kill_but_celery_lingers  # type: ignore[method-assign]
    system.advance(COLD_GRACE_S)
    assert _kinds(stopper.tick()) == ["escalated"]  # killed; Celery not gone yet
    assert "w1" in stopper
    system.advance(0.3)
    (event,) = stopper.tick()
    assert (event.kind, event.how) == ("stopped", "killed")
