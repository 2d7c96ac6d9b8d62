"""Finding, starting and stopping the recorder of a broker: the one entry point for the rest.

One recorder per broker in use, named by a short hash of the broker URL (``KEY``), so projects
on their own brokers can each have theirs: ``ensure_recorder(config)`` is idempotent and cheap
(a file read and a liveness check when it runs), so the worker manager, the window and the CLI
call it whenever they know a broker is in use. Files under ``$POOLDESK_HOME/taskhistory``, each
with one writer, as the worker records: ``KEY.json`` (the starter: supervisor pid + create time,
masked URL), ``KEY.pid.json`` (the supervisor: the recorder's pid), ``KEY.log`` (its output,
secrets masked), ``KEY.lease`` (touched by an open window). The URL itself travels only in the
recorder's environment, never in argv, a log or a record.
"""

from __future__ import annotations

import contextlib
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


def ensure_recorder(config: BrokerConfig) -> RecorderInfo | None:
    """Start the recorder for ``config``'s broker unless one runs; ``None`` without a broker.

    The hook for whoever starts workers on a broker (the worker manager, a project's own
    broker later): cheap when it already runs, never a duplicate (a lock file serialises
    concurrent callers)."""
    if not config.broker_url or os.environ.get(DISABLE_ENV, "").lower() == "off":
        return None
    key = broker_key(config.broker_url)
    with file_lock(directory() / ".lock"):
        current = info(key)
        if current.running:
            return current
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
    """A local Pooldesk worker runs (or is restarting), or a window touched the lease lately."""
    with contextlib.suppress(FileNotFoundError):
        if time.time() - (directory() / f"{key}.lease").stat().st_mtime < within:
            return True
    store = RecordStore()
    for name in store.names():
        record = store.load(name)
        if record is not None and proc.alive(record.supervisor_pid, record.supervisor_create_time):
            return True
    return False
