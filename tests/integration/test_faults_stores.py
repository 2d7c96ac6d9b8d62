"""Faults of the history files and of the task-history recorder (issue 24, items 3, 5, 6, 10, 12),
run for real: the module's live setup (tests/taskhistory_live.py: managed broker, one prefork
worker, the recorder its start brought up), real SIGKILLs, a tasks.db replaced under the running
recorder, a data directory deleted under one; and the CLI on a home that is a file, read-only,
or on a full disk. The last two need a mount of their own: a user + mount namespace
(``unshare -rm``), where a tmpfs fills up for real (ENOSPC) and a read-only bind refuses root
too — chmod does not stop root, and CI runs as root."""

from __future__ import annotations

import gc
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from pooldesk.backend.batches.history import BatchRecord, HistoryStore
from pooldesk.backend.taskhistory import service
from pooldesk.backend.taskhistory.query import TaskQuery
from tests.clirun import pooldesk
from tests.taskhistory_live import Live, final, wait_for

REPO = Path(__file__).resolve().parents[2]


def _procs(module: str, key: str) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["cmdline", "status"]):
        cmd = p.info["cmdline"] or []
        if p.info["status"] != psutil.STATUS_ZOMBIE and module in cmd and key in cmd:
            out.append(p)
    return out


def recorders(key: str) -> list[psutil.Process]:
    return _procs("pooldesk.backend.taskhistory.recorder", key)


def supervisors(key: str) -> list[psutil.Process]:
    return _procs("pooldesk.backend.taskhistory.supervise", key)


def _log(live: Live) -> str:
    return (service.directory() / f"{live.key}.log").read_text(errors="replace")


def _back(live: Live, old_supervisor: int | None) -> bool:
    now = service.info(live.key)
    return bool(now.running and now.recorder_pid and now.supervisor_pid != old_supervisor)


# -- supervision -----------------------------------------------------------------------------
def test_recorder_and_supervisor_killed_are_restarted_while_a_worker_runs(live: Live) -> None:
    """Nobody runs a command: the worker's supervisor notices (its keeper) and starts a new
    pair, which notes the gap and records what comes next."""
    before = service.info(live.key)
    assert before.running and service.in_use(live.key)  # the worker's supervisor holds it
    os.killpg(before.supervisor_pid, signal.SIGKILL)  # type: ignore[arg-type]
    wait_for(lambda: _back(live, before.supervisor_pid), "a new recorder pair", timeout=30)
    wait_for(lambda: "recording task events" in _log(live).rsplit("starting at", 1)[-1], "it")
    task = live.send("taskapp.sleep", 0.1)
    final(live, task, "SUCCESS")
    assert "killed or crashed" in TaskQuery().gaps()[-1].reason
    assert len(recorders(live.key)) == 1 and len(supervisors(live.key)) == 1


def test_a_killed_supervisor_leaves_one_recorder_not_two(live: Live) -> None:
    """The orphaned recorder leaves (its parent changed); the new supervisor's recorder takes
    the broker's recorder lock after it: never two recorders writing the same events."""
    before = service.info(live.key)
    old_recorder = before.recorder_pid
    os.kill(before.supervisor_pid, signal.SIGKILL)  # type: ignore[arg-type]
    wait_for(lambda: _back(live, before.supervisor_pid), "a new recorder pair", timeout=30)
    wait_for(lambda: not psutil.pid_exists(old_recorder) or _zombie(old_recorder), "the orphan")
    wait_for(lambda: len(recorders(live.key)) == 1, "exactly one recorder")
    wait_for(lambda: "recording task events" in _log(live).rsplit("starting at", 1)[-1], "it")
    task = live.send("taskapp.sleep", 0.1)
    try:
        final(live, task, "SUCCESS")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{_log(live)[-3000:]}") from None
    assert len(recorders(live.key)) == 1 and len(supervisors(live.key)) == 1
    assert "killed or crashed" in TaskQuery().gaps()[-1].reason


def _zombie(pid: int | None) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_lost_record_never_starts_a_second_recorder(live: Live) -> None:
    wait_for(lambda: service.info(live.key).running, "the recorder")
    (service.directory() / f"{live.key}.json").unlink()
    service.ensure_recorder(live.config)
    service.ensure_recorder(live.config)
    assert len(supervisors(live.key)) == 1  # the running one holds the supervisor lock
    wait_for(lambda: service.info(live.key).running, "the keeper to write the record again")
    assert len(recorders(live.key)) == 1


# -- tasks.db replaced under the recorder ----------------------------------------------------
def test_a_tasks_db_set_aside_under_the_recorder_is_reopened(live: Live) -> None:
    wait_for(lambda: service.info(live.key).recorder_pid, "the recorder")
    db = live.home / "tasks.db"
    junk = live.home / "junk"
    junk.write_bytes(os.urandom(64 * 1024))
    os.replace(junk, db)  # a damaged file where the recorder's file was
    # ...without the old file's write-ahead log: SQLite would apply that WAL's pages to the
    # new file and read it as healthy (a race with the recorder's checkpoints; found at merge).
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    first = pooldesk("tasks", "list", "--limit", "1")
    again = pooldesk("tasks", "list", "--limit", "1")
    assert first.stderr.count("kept as tasks.db.corrupt-") == 1, first.stderr
    assert "kept as" not in again.stderr  # announced once
    kept = [
        p for p in live.home.glob("tasks.db.corrupt-*") if not p.name.endswith(("-wal", "-shm"))
    ]
    assert len(kept) == 1
    wait_for(lambda: "reopened the file" in _log(live), "the recorder to reopen tasks.db")
    task = live.send("taskapp.sleep", 0.1)
    row = final(live, task, "SUCCESS")  # in the new file, where readers look
    assert row["name"] == "taskapp.sleep"


# -- quitting and deleted data directories ----------------------------------------------------
def test_release_keeps_a_recorder_workers_need(live: Live) -> None:
    wait_for(lambda: service.info(live.key).running, "the recorder")
    service.touch_lease(live.key)
    assert service.release(live.key) is False
    assert service.info(live.key).running
    assert not (service.directory() / f"{live.key}.lease").exists()


def test_a_recorder_no_worker_needs_stops_on_release_and_none_outlives_its_home(
    live: Live, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another home on the same broker, no worker: the window's quit (release) stops its
    recorder; started again, deleting the home ends it."""
    other = tmp_path / "other"
    monkeypatch.setenv("POOLDESK_HOME", str(other))
    started = service.ensure_recorder(live.config)
    assert started is not None and started.running
    wait_for(lambda: service.info(live.key).recorder_pid, "its recorder")
    assert service.release(live.key) is True
    assert not recorders_in(other)
    again = service.ensure_recorder(live.config)
    assert again is not None
    log = service.directory() / f"{live.key}.log"
    wait_for(
        lambda: log.read_text().rsplit("starting at", 1)[-1].count("recording task events"),
        "its recorder again, recording",
    )
    pids = [again.supervisor_pid, service.info(live.key).recorder_pid]
    shutil.rmtree(other)
    wait_for(lambda: all(_zombie(pid) for pid in pids), "both to leave", timeout=30)
    assert not other.exists()  # nobody recreated it


def recorders_in(home: Path) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["cmdline"]):
        if "pooldesk.backend.taskhistory.recorder" in (p.info["cmdline"] or []):
            try:
                if p.environ().get("POOLDESK_HOME") == str(home):
                    out.append(p)
            except psutil.Error:
                continue
    return out


# -- the CLI on a bad home ------------------------------------------------------------------
COMMANDS = [
    ("batch", "list"),
    ("worker", "list"),
    ("tasks", "list"),
    ("broker", "status"),
    ("advise",),
]


def test_a_home_that_is_a_file_is_one_plain_line_for_every_command(tmp_path: Path) -> None:
    afile = tmp_path / "home"
    afile.write_text("not a folder")
    for argv in COMMANDS:
        done = pooldesk(*argv, env={"POOLDESK_HOME": str(afile)})
        assert done.returncode == 2, (argv, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "is not a folder" in lines[0], (argv, done.stderr)
        assert "unexpected error" not in done.stderr


def _healthy_history(home: Path) -> bytes:
    HistoryStore(home / "history.db").add(
        BatchRecord("b-kept", "invoices", {"customers": 10}, "completed", 1.0)
    )
    gc.collect()  # its connections closed: no -wal/-shm left, as after any command
    return (home / "history.db").read_bytes()


def _in_namespace(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


@pytest.fixture(scope="module")
def namespace() -> None:
    """A user + mount namespace, where this test may mount a tmpfs and a read-only bind."""
    probe = _in_namespace("mount -t tmpfs tmpfs /mnt && echo ok")
    if probe.stdout.strip() != "ok":
        pytest.skip(f"this kernel refuses a user mount namespace: {probe.stderr.strip()}")


def test_a_full_disk_leaves_a_healthy_history_alone(namespace: None, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    before = _healthy_history(home)
    cli = f"{sys.executable} -m backend"
    script = textwrap.dedent(f"""
        mount -t tmpfs -o size=512k tmpfs {home}.mnt 2>/dev/null || exit 9
        cp {home}/history.db {home}.mnt/
        dd if=/dev/zero of={home}.mnt/filler bs=4k 2>/dev/null
        POOLDESK_HOME={home}.mnt {cli} batch list; echo "rc=$?"
        ls {home}.mnt
        cp {home}.mnt/history.db {home}/after-full.db
        rm {home}.mnt/filler
        POOLDESK_HOME={home}.mnt {cli} batch list; echo "rc=$?"
    """)
    Path(f"{home}.mnt").mkdir()
    done = _in_namespace(script)
    parts = done.stdout.split("rc=")  # [full run, "1" + ls + spaced run, "0"]
    assert len(parts) == 3 and parts[1].startswith("1"), done.stdout + done.stderr
    assert "cannot be used" in done.stderr and "left as it is" in done.stderr
    assert "corrupt" not in parts[1]  # nothing renamed on the full disk
    assert (home / "after-full.db").read_bytes() == before
    assert "b-kept" in parts[1] and parts[2].startswith("0")  # space back: all there


def test_a_read_only_home_is_one_plain_line_and_renames_nothing(
    namespace: None, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    before = _healthy_history(home)
    (home / "settings.json").write_text("{garbage")
    cli = f"{sys.executable} -m backend"
    runs = "\n".join(
        f'POOLDESK_HOME={home} {cli} {" ".join(argv)}; echo "rc=$?"' for argv in COMMANDS
    )
    script = f"mount --bind {home} {home} && mount -o remount,bind,ro {home} || exit 9\n{runs}"
    done = _in_namespace(script)
    assert done.stdout.count("rc=1") == len(COMMANDS), done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == len(COMMANDS) and all("is read-only" in line for line in lines), lines
    assert sorted(p.name for p in home.iterdir()) == ["history.db", "settings.json"]
    assert (home / "history.db").read_bytes() == before
