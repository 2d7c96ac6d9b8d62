"""Celery's own soft stage in the stop escalation, and the Celery 5.5+/5.6+ worker options.

A worker started with ``--soft-shutdown-timeout S`` (Celery 5.5+) is stopped with SIGQUIT:
Celery itself waits up to S s for running tasks, then requeues them and exits; Pooldesk kills
the group only ``COLD_GRACE_S`` after that. "Stop now" during the soft stage is a second
SIGQUIT (Celery cancels the tasks at once). Through the fake clock and processes of
``tests/unit/fakes.py``.
"""

from __future__ import annotations

import signal
from dataclasses import replace
from pathlib import Path

import pytest

from pooldesk.backend.workers import options
from pooldesk.backend.workers.celery_features import reasons, unsupported
from pooldesk.backend.workers.escalation import COLD_GRACE_S
from pooldesk.backend.workers.spec import WorkerSpec
from pooldesk.backend.workers.stopping import Stopper
from tests.unit.fakes import CELERY, SUPERVISOR, FakeSystem, store_with_worker

QUIT = signal.SIGQUIT


def _soft_stopper(tmp_path: Path, system: FakeSystem, soft: float) -> Stopper:
    store = store_with_worker(tmp_path / "workers")
    record = store.load("w1")
    assert record is not None
    record.spec = replace(record.spec, soft_shutdown_timeout=soft)
    store.save(record)
    return Stopper(store, 60.0, system)


def test_soft_shutdown_is_celerys_sigquit_then_kill_after_its_timeout(tmp_path: Path) -> None:
    system = FakeSystem()
    system.worker()  # a task that never ends
    stopper = _soft_stopper(tmp_path, system, soft=20.0)
    stopper.request("w1")
    assert system.sent == [(CELERY, QUIT)]  # no SIGTERM: Celery's soft stage bounds the wait
    assert stopper.progress("w1") == "soft shutdown: waiting for tasks, 0 of 20 s"
    system.advance(20.0 + COLD_GRACE_S - 0.1)
    stopper.tick()
    assert system.killed_groups == []
    system.advance(0.1)
    events = stopper.tick()
    assert system.killed_groups == [SUPERVISOR]
    assert [e.how for e in events if e.kind == "stopped"] == ["killed"]


def test_soft_shutdown_that_finishes_says_so(tmp_path: Path) -> None:
    system = FakeSystem()
    system.worker(exits_after={QUIT: 4.0})
    stopper = _soft_stopper(tmp_path, system, soft=20.0)
    stopper.request("w1")
    system.advance(4.0)  # Celery gone; the supervisor leaves 0.5 s later
    stopper.tick()
    system.advance(0.5)
    (event,) = [e for e in stopper.tick() if e.kind == "stopped"]
    assert event.how == "soft" and "soft shutdown" in event.text


def test_stop_now_during_soft_sends_a_second_sigquit(tmp_path: Path) -> None:
    system = FakeSystem()
    system.worker()
    stopper = _soft_stopper(tmp_path, system, soft=60.0)
    stopper.request("w1")
    stopper.request("w1", mode="cold")
    assert system.sent == [(CELERY, QUIT), (CELERY, QUIT)]
    assert stopper.progress("w1") == "abandoning tasks (back to the queue)"
    system.advance(COLD_GRACE_S)
    stopper.tick()
    assert system.killed_groups == [SUPERVISOR]  # not 60 s later


def test_without_a_soft_timeout_the_stop_is_warm_first(tmp_path: Path) -> None:
    system = FakeSystem()
    system.worker()
    stopper = Stopper(store_with_worker(tmp_path / "workers"), 60.0, system)
    stopper.request("w1")
    assert system.sent == [(CELERY, signal.SIGTERM)]


def test_newer_options_become_celery_arguments() -> None:
    spec = WorkerSpec(
        "w", soft_shutdown_timeout=10.0, soft_shutdown_on_idle=True, disable_prefetch=True,
        eta_task_limit=50, extra_args=("--without-heartbeat",),
    )  # fmt: skip
    args = options.argv(spec)
    assert args[-5:] == [
        "--disable-prefetch",
        "worker.soft_shutdown_timeout=10",
        "worker.enable_soft_shutdown_on_idle=true",
        "worker.eta_task_limit=50",
        "--without-heartbeat",
    ]
    assert WorkerSpec.from_dict(spec.to_dict()) == spec
    assert WorkerSpec.from_dict({"name": "old"}).soft_shutdown_timeout is None  # old records


@pytest.mark.parametrize(
    ("celery", "broker", "refused"),
    [
        ("5.6.0", "redis://h/0", []),
        ("5.5.2", "redis://h/0", ["--disable-prefetch", "--eta-task-limit"]),
        ("5.4.0", "redis://h/0", ["--soft-shutdown-timeout", "--soft-shutdown-on-idle",
                                  "--disable-prefetch", "--eta-task-limit"]),
        ("5.6.0", "amqp://h//", ["--disable-prefetch"]),
        (None, "redis://h/0", ["--soft-shutdown-timeout", "--soft-shutdown-on-idle",
                               "--disable-prefetch", "--eta-task-limit"]),
    ],
)  # fmt: skip
def test_options_the_projects_celery_or_broker_lacks_are_refused(celery, broker, refused) -> None:
    spec = WorkerSpec(
        "w", soft_shutdown_timeout=5.0, soft_shutdown_on_idle=True, disable_prefetch=True,
        eta_task_limit=5,
    )  # fmt: skip
    problems = unsupported(spec, celery, broker)
    assert [p.split()[0] for p in problems] == refused
    greyed = reasons(celery, broker)
    assert sorted(k for k, v in greyed.items() if v) == sorted(
        {"--soft-shutdown-timeout": "soft_shutdown_timeout",
         "--soft-shutdown-on-idle": "soft_shutdown_on_idle",
         "--disable-prefetch": "disable_prefetch",
         "--eta-task-limit": "eta_task_limit"}[r] for r in refused
    )  # fmt: skip


def test_bad_values_for_the_newer_options() -> None:
    bad = WorkerSpec("w", soft_shutdown_timeout=-1, eta_task_limit=0)
    problems = options.problems(bad)
    assert any("soft-shutdown-timeout" in p for p in problems)
    assert any("eta-task-limit" in p for p in problems)


def test_cli_refuses_disable_prefetch_off_redis(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pooldesk.backend.cli import main

    monkeypatch.setenv("POOLDESK_BROKER_URL", "amqp://guest:guest@127.0.0.1:1//")
    code = main(["worker", "start", "w1", "--disable-prefetch", "--json"])
    err = capsys.readouterr().err
    assert code == 2 and "--disable-prefetch works with a Redis broker only" in err
    assert not (home / "workers").exists() or not list((home / "workers").glob("*.json"))
