"""Finding, starting and stopping the recorder of a broker: the one entry point for the rest.

One recorder per broker in use, named by a short hash of the broker URL (``KEY``), so projects
on their own brokers can each have theirs: ``ensure_recorder(config)`` is idempotent and cheap
(a file read and a liveness check when it runs), so the worker manager, the window and the CLI
call it whenever they know a broker is in use. Files under ``$POOLDESK_HOME/taskhistory``, each
with one writer, as the worker records: ``KEY.json`` (the starter: supervisor pid + create time,
masked URL), ``KEY.pid.json`` (the supervisor: the recorder's pid), ``KEY.log`` (its output,
secrets masked), ``KEY.lease`` (touched by an open window). The URL itself travels only in the
recorder's environment, never in argv, a log or a record.

One of each, by locks the kernel drops with their holder (so a killed process never leaves a
stale one): the supervisor holds ``KEY.supervisor.lock`` and the recorder ``KEY.recorder.lock``
for their whole lives (a second one waits or leaves), and every worker supervisor on the broker
holds ``KEY.users.lock`` *shared* (``taskhistory.keeper``): "a Pooldesk worker uses this broker"
is that lock being held, which is what keeps a recorder wanted and what :func:`release` checks
when the window quits.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pooldesk.backend import paths, proc
from pooldesk.backend.broker.resolve import BrokerConfig
from pooldesk.backend.fsutil import file_lock, read_json, write_json_atomic
from pooldesk.backend.redact import mask_url
from pooldesk.backend.workers.priority import NICE_ENV
from pooldesk.backend.workers.records import RecordStore

IDLE_EXIT_ENV = "POOLDESK_RECORDER_IDLE_S"
DISABLE_ENV = "POOLDESK_TASK_HISTORY"  # "off": no recorder is started (nothing recorded)
DEFAULT_IDLE_EXIT_S = 300.0
RELEASE_WAIT_S = 5.0


def broker_key(url: str) -> str:
    """A short stable name for a broker that reveals nothing about its URL."""
    return hashlib.sha256(url.encode()).hexdigest()[:12]


def directory() -> Path:
    return paths.subdir("taskhistory")


def idle_exit() -> float:
    try:
        return float(os.environ.get(IDLE_EXIT_ENV, DEFAULT_IDLE_EXIT_S))
    except ValueError:
        return DEFAULT_IDLE_EXIT_S


@dataclass(frozen=True)
class RecorderInfo:
    key: str
    broker: str | None  # masked URL
    running: bool
    supervisor_pid: int | None
    recorder_pid: int | None
    started_at: float | None
    log: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _record(key: str) -> dict[str, Any]:
    data = read_json(directory() / f"{key}.json")
    return data if isinstance(data, dict) else {}


def info(key: str) -> RecorderInfo:
    record = _record(key)
    pid_info = read_json(directory() / f"{key}.pid.json")
    pid_info = pid_info if isinstance(pid_info, dict) else {}
    running = proc.alive(record.get("supervisor_pid"), record.get("supervisor_create_time"))
    recorder_pid = pid_info.get("recorder_pid")
    recorder_alive = running and proc.alive(recorder_pid, pid_info.get("create_time"))
    return RecorderInfo(
        key=key,
        broker=record.get("broker"),
        running=running,
        supervisor_pid=record.get("supervisor_pid") if running else None,
        recorder_pid=recorder_pid if recorder_alive else None,
        started_at=record.get("started_at"),
        log=str(directory() / f"{key}.log"),
    )


def recorders() -> list[RecorderInfo]:
    return [
        info(p.name[: -len(".json")])
        for p in sorted(directory().glob("*.json"))
        if not p.name.endswith(".pid.json")
    ]


def lock_path(key: str, what: str) -> Path:
    """``KEY.supervisor.lock``, ``KEY.recorder.lock`` or ``KEY.users.lock``."""
    return directory() / f"{key}.{what}.lock"


def held(path: Path) -> bool:
    """True when another process holds a lock on ``path`` (an exclusive try fails)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops our own lock, if we got it
    return False


def hold(path: Path, shared: bool = False, wait: bool = False) -> int | None:
    """Take a lock for this process's lifetime: the fd, or ``None`` when another holds it.
    Not inherited by children (``os.open`` fds are close-on-exec)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB)
    try:
        fcntl.flock(fd, mode)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def in_use(key: str) -> bool:
    """A Pooldesk worker supervisor on this broker runs (it holds the users lock shared)."""
    return held(lock_path(key, "users"))


_spawned: list[subprocess.Popen[bytes]] = []  # supervisors we started: reaped when they end


def _reap() -> None:
    """A long-lived starter (the window, a worker supervisor's keeper) collects the
    supervisors it started once they end, and only those: ``poll`` waits for exactly these
    children, never for a worker the same process runs."""
    _spawned[:] = [child for child in _spawned if child.poll() is None]


def ensure_recorder(config: BrokerConfig) -> RecorderInfo | None:
    """Start the recorder for ``config``'s broker unless one runs; ``None`` without a broker.

    The hook for whoever starts workers on a broker (the worker manager, a project's own
    broker later): cheap when it already runs, never a duplicate (a lock file serialises
    concurrent callers)."""
    if not config.broker_url or os.environ.get(DISABLE_ENV, "").lower() == "off":
        return None
    key = broker_key(config.broker_url)
    _reap()
    with file_lock(directory() / ".lock"):
        current = info(key)
        if current.running:
            return current
        if held(lock_path(key, "supervisor")):  # running, its record lost: write it again
            return _adopt(key, current)
        from pooldesk.backend.settings import load

        env = dict(os.environ)
        env["POOLDESK_BROKER_URL"] = config.broker_url
        env.pop("CELERY_BROKER_URL", None)
        if config.result_backend:
            env["POOLDESK_RESULT_BACKEND"] = config.result_backend
        env.setdefault(NICE_ENV, str(load().settings.worker_nice))
        env["PYTHONUNBUFFERED"] = "1"
        child = subprocess.Popen(
            [sys.executable, "-m", "pooldesk.backend.taskhistory.supervise", key],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
        _spawned.append(child)
        write_json_atomic(
            directory() / f"{key}.json",
            {
                "key": key,
                "broker": mask_url(config.broker_url),
                "supervisor_pid": child.pid,
                "supervisor_create_time": proc.create_time(child.pid),
                "started_at": time.time(),
            },
        )
    return info(key)


def _adopt(key: str, current: RecorderInfo) -> RecorderInfo:
    """The supervisor that holds the lock wrote who it is into the lock file."""
    data = read_json(lock_path(key, "supervisor"))
    if not isinstance(data, dict) or not proc.alive(
        data.get("supervisor_pid"), data.get("supervisor_create_time")
    ):
        return current
    write_json_atomic(directory() / f"{key}.json", data)
    return info(key)


def stop_recorder(key: str, timeout: float = 10.0) -> bool:
    """SIGTERM the supervisor (it stops the recorder, which flushes); SIGKILL the group after
    ``timeout``. True when it is gone."""
    record = _record(key)
    pid, created = record.get("supervisor_pid"), record.get("supervisor_create_time")
    if not isinstance(pid, int) or not proc.alive(pid, created):
        return True
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGTERM)
    if proc.wait_gone(pid, created, timeout):
        return True
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    return proc.wait_gone(pid, created, 2.0)


def touch_lease(key: str) -> None:
    """An open window keeps its broker's recorder alive even when no local worker runs."""
    path = directory() / f"{key}.lease"
    path.touch(mode=0o600)
    os.utime(path)


def wanted(key: str, within: float) -> bool:
    """A local Pooldesk worker on this broker runs (or is restarting: its supervisor holds the
    users lock), or a window touched the lease lately."""
    with contextlib.suppress(FileNotFoundError):
        if time.time() - (directory() / f"{key}.lease").stat().st_mtime < within:
            return True
    return in_use(key)


def release(key: str) -> bool:
    """The window quits: drop its lease, and stop the recorder when no Pooldesk worker uses
    the broker any more (quitting with "stop the workers" leaves nothing that only they
    needed). True when the recorder was stopped."""
    with contextlib.suppress(FileNotFoundError):
        (directory() / f"{key}.lease").unlink()
    if not info(key).running:
        return False
    # Workers just stopped may still be in their supervisors' last milliseconds (the lock is
    # dropped when the supervisor exits): wait for those, never for one that keeps running.
    deadline = time.monotonic() + RELEASE_WAIT_S
    while in_use(key):
        if _workers_staying() or time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return stop_recorder(key)


def _workers_staying() -> bool:
    """A local worker whose supervisor runs and was not asked to stop."""
    store = RecordStore()
    for name in store.names():
        record = store.load(name)
        if (
            record is not None
            and record.stop_requested_at is None
            and proc.alive(record.supervisor_pid, record.supervisor_create_time)
        ):
            return True
    return False
