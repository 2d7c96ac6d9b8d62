"""The recorder's hold on its file and its place (backend/taskhistory/recorder.py
``_check_place``; the file's handles are backend/taskhistory/writer.py's), in-process with a
real TaskStore and no broker: a tasks.db set aside under it is reopened, a damaged one met
while writing is set aside and announced, a deleted data directory or a dead supervisor makes
it leave. The same kernel locks as the real processes (service.hold/held/in_use/release)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from pooldesk.backend import setaside
from pooldesk.backend.taskhistory import service
from pooldesk.backend.taskhistory.query import TaskQuery
from pooldesk.backend.taskhistory.recorder import Recorder
from pooldesk.backend.taskhistory.store import TaskStore
from tests.unit.test_taskhistory_store import lifecycle


def _recorder(home: Path) -> Recorder:
    return Recorder("k", "redis://127.0.0.1:9/0", None, store=TaskStore(home / "tasks.db"))


def test_a_file_set_aside_under_the_recorder_is_reopened(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    recorder = _recorder(home)
    for event in lifecycle("before", 1.0):
        recorder.on_event(event)
    recorder.writer.flush()
    (home / "tasks.db").rename(home / "tasks.db.corrupt-1")  # what `tasks list` does to damage
    TaskStore(home / "tasks.db").close()  # ... and the new file it starts
    for event in lifecycle("after", 2.0):
        recorder.on_event(event)
    recorder._check_place(force=True)
    recorder.writer.flush()
    assert [r.id for r in TaskQuery(home / "tasks.db").page(_all())] == ["after"]
    assert recorder.writer.store.file_id() == recorder.writer.file_id
    recorder.writer.store.close()


def _all():  # type: ignore[no-untyped-def]
    from pooldesk.backend.taskhistory.query import Filter

    return Filter()


class _Damaged(TaskStore):
    """Writes meet the file as it is on disk now (a fresh connection), so damage done under
    the recorder reaches it as SQLite's own error, as it does once pages leave the cache."""

    def write(self, rows):  # type: ignore[no-untyped-def]
        sqlite3.connect(self.path).execute("SELECT * FROM sqlite_master").fetchall()
        return super().write(rows)


def test_damage_met_while_writing_is_set_aside_and_announced(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "tasks.db"
    recorder = Recorder("k", "redis://127.0.0.1:9/0", None, store=_Damaged(path))
    recorder.writer.store.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(os.urandom(16384))
    for event in lifecycle("kept", 2.0):
        recorder.on_event(event)
    recorder.writer.flush()
    assert [r.id for r in TaskQuery(path).page(_all())] == ["kept"]
    [message] = setaside.take(home)
    assert "kept as tasks.db.corrupt-" in message
    recorder.writer.store.close()


def test_a_deleted_data_directory_or_a_dead_supervisor_makes_it_leave(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    recorder = _recorder(home)
    recorder._parent = os.getppid()
    recorder._check_place(force=True)
    assert not recorder.stopping
    recorder._parent = os.getppid() + 100_000  # not our parent: the supervisor is gone
    recorder._check_place(force=True)
    assert recorder.stopping and recorder._clean is False
    recorder.writer.store.close()

    again = _recorder(home)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{home / 'tasks.db'}{suffix}").unlink(missing_ok=True)
    for child in home.rglob("*"):
        if child.is_file():
            child.unlink()
    for child in sorted(home.rglob("*"), reverse=True):
        child.rmdir()
    home.rmdir()
    again._check_place(force=True)
    assert again.stopping and not home.exists()  # left, and recreated nothing
    again.writer.store.close()


_HOLD = """
import sys, time
from pooldesk.backend.taskhistory import service
fd = service.hold(service.lock_path("k", "users"), shared=True, wait=True)
print("held", flush=True)
sys.stdin.read()
"""


def test_in_use_follows_a_live_holder_and_release_spares_what_workers_need(home: Path) -> None:
    assert not service.in_use("k")
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert service.in_use("k") and service.wanted("k", 300)
        service.touch_lease("k")
        assert service.release("k") is False  # a worker still uses the broker
        assert not (service.directory() / "k.lease").exists()
    finally:
        holder.kill()
        holder.wait()
    assert not service.in_use("k")  # the kernel dropped it with its holder
    assert not service.wanted("k", 300)
