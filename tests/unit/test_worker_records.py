"""Worker record files validated field by field, and the worker-name rules (issue 24, 11–12)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pooldesk.backend.workers.records import RecordStore, WorkerBusy, WorkerRecord
from pooldesk.backend.workers.spec import SpecError, WorkerSpec
from pooldesk.backend.workers.supervise import broker_side_crash


@pytest.fixture
def store(tmp_path: Path) -> RecordStore:
    return RecordStore(tmp_path)


def _save(store: RecordStore, name: str) -> None:
    store.save(WorkerRecord(spec=WorkerSpec(name=name), hostname=f"{name}@h"))


def test_a_pid_record_of_the_wrong_type_is_named_and_the_rest_still_read(
    store: RecordStore,
) -> None:
    for name in ("w1", "w3"):
        _save(store, name)
    (store.dir / "w3.pid.json").write_text(
        json.dumps({"celery_pid": "abc", "create_time": 1.0, "supervisor_pid": 4_000_000})
    )
    assert store.pid_info("w3") is None  # treated as absent, never a TypeError later
    assert store.load("w1") is not None and store.load("w3") is not None
    problems = store.problems()
    assert list(problems) == ["w3"]
    assert "workers/w3.pid.json" in problems["w3"] and "celery_pid" in problems["w3"]


@pytest.mark.parametrize(
    "text",
    ["{not json", "[1, 2]", json.dumps({"hostname": "w3@h"}), json.dumps({"spec": {"x": 1}})],
)
def test_a_corrupt_worker_record_is_named(store: RecordStore, text: str) -> None:
    _save(store, "w1")
    (store.dir / "w3.json").write_text(text)
    assert store.load("w3") is None
    assert set(store.problems()) == {"w3"}
    assert "workers/w3.json is unreadable" in store.problems()["w3"]


def test_booleans_are_no_pids_and_unknown_fields_are_ignored(store: RecordStore) -> None:
    _save(store, "w1")
    exit_file = store.dir / "w1.exit.json"
    exit_file.write_text(json.dumps({"returncode": True, "ended_at": 1.0, "celery_pid": 3}))
    assert store.exit_info("w1") is None
    exit_file.write_text(
        json.dumps({"returncode": 1, "ended_at": 1, "celery_pid": 3, "from_the_future": 1})
    )
    info = store.exit_info("w1")
    assert info is not None and info.returncode == 1 and store.problems() == {}


@pytest.mark.parametrize("name", [".", "..", ".hidden", "w.pid", "w.exit"])
def test_names_that_collide_with_pooldesk_files_are_refused(name: str) -> None:
    with pytest.raises(SpecError, match="name"):
        WorkerSpec(name=name).validate()


def test_ordinary_dotted_names_are_fine() -> None:
    WorkerSpec(name="billing.eu-1").validate()


def test_the_worker_lock_is_exclusive_between_holders(store: RecordStore) -> None:
    with store.lock("w1"):
        with pytest.raises(WorkerBusy), store.lock("w1", wait=False):
            pass
        with store.lock("w2", wait=False):  # another name is another lock
            pass
    with store.lock("w1", wait=False):  # released with the first holder
        pass


KOMBU_CRASH = """\
[2026-12-06 05:00:01,000: CRITICAL/MainProcess] Unrecoverable error: AttributeError("'NoneType' \
object has no attribute 'hostname'")
Traceback (most recent call last):
  File "kombu/transport/virtual/base.py", line 287, in restore_unacked_once
    unrestored = self.restore_unacked()
  File "kombu/transport/redis.py", line 363, in restore_unacked
    with self.channel.conn_or_acquire(client) as client:
  File "kombu/transport/redis.py", line 1113, in _connparams
    'host': conninfo.hostname or '127.0.0.1',
AttributeError: 'NoneType' object has no attribute 'hostname'
"""


def test_kombus_reconnect_crash_is_told_from_the_workers_own() -> None:
    assert broker_side_crash(KOMBU_CRASH.splitlines()) is not None
    own = ["Traceback (most recent call last):", "ImportError: No module named 'proj'"]
    assert broker_side_crash(own) is None


def test_the_windows_start_and_restart_never_wait_on_a_held_lock(store: RecordStore) -> None:
    """The window's service thread is refused at once while a CLI holds the worker's lock."""
    from pooldesk.backend.broker.resolve import BrokerConfig
    from pooldesk.backend.workers.manager import WorkerManager

    manager = WorkerManager(config=BrokerConfig(None, None, managed=True), store=store)
    spec = WorkerSpec(name="w1")
    with store.lock("w1"):
        with pytest.raises(WorkerBusy, match="another Pooldesk process"):
            manager.start(spec, wait=False, block=False)
        with pytest.raises(WorkerBusy):
            manager.request_restart("w1", spec)
