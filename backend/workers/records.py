"""Per-worker files under ``$POOLDESK_HOME/workers``: how Pooldesk processes share what they know.

Each file has exactly one writer, so no two processes ever race on the same file:
``NAME.json`` (the manager: spec, supervisor pid, stop request, first ping), ``NAME.pid.json``
(the supervisor: Celery's main pid) and ``NAME.exit.json`` (the supervisor: how it ended).
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pooldesk.backend import paths
from pooldesk.backend.fsutil import read_json, write_json_atomic
from pooldesk.backend.workers.spec import WorkerSpec


@dataclass
class WorkerRecord:
    spec: WorkerSpec
    hostname: str  # the full Celery node name, NAME@host
    supervisor_pid: int | None = None
    supervisor_create_time: float | None = None
    started_at: float | None = None
    ready_at: float | None = None
    stop_requested_at: float | None = None
    starts: list[float] = field(default_factory=list)  # for the crash-loop rule

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["spec"] = self.spec.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerRecord:
        data = dict(data)
        data["spec"] = WorkerSpec.from_dict(data["spec"])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class PidInfo:
    celery_pid: int
    create_time: float | None
    supervisor_pid: int
    started_at: float | None = None  # this run's start: a ping before it belongs to an old run
    crashes: int = 0  # crashes before this run, inside the supervisor's window


@dataclass
class ExitInfo:
    returncode: int
    ended_at: float
    celery_pid: int
    crashes: int = 0  # crashes inside the supervisor's window, this one included
    restarting: bool = False  # the supervisor will start it again after a back-off
    gave_up: bool = False  # crash loop: too many crashes in the window, no more restarts


class RecordStore:
    def __init__(self, directory: Path | None = None) -> None:
        self.dir = directory or paths.workers_dir()

    def _path(self, name: str, suffix: str) -> Path:
        return self.dir / f"{name}{suffix}"

    def names(self) -> list[str]:
        return sorted(
            p.name[: -len(".json")]
            for p in self.dir.glob("*.json")
            if not p.name.endswith((".pid.json", ".exit.json"))
        )

    def load(self, name: str) -> WorkerRecord | None:
        data = read_json(self._path(name, ".json"))
        if not isinstance(data, dict):
            return None
        try:
            return WorkerRecord.from_dict(data)
        except (KeyError, TypeError, ValueError):
            return None

    def save(self, record: WorkerRecord) -> None:
        write_json_atomic(self._path(record.spec.name, ".json"), record.to_dict())

    def pid_info(self, name: str) -> PidInfo | None:
        data = read_json(self._path(name, ".pid.json"))
        try:
            return PidInfo(**data) if isinstance(data, dict) else None
        except TypeError:
            return None

    def exit_info(self, name: str) -> ExitInfo | None:
        data = read_json(self._path(name, ".exit.json"))
        try:
            return ExitInfo(**data) if isinstance(data, dict) else None
        except TypeError:
            return None

    def write_pid(self, name: str, info: PidInfo) -> None:
        write_json_atomic(self._path(name, ".pid.json"), asdict(info))

    def write_exit(self, name: str, info: ExitInfo) -> None:
        write_json_atomic(self._path(name, ".exit.json"), asdict(info))

    def clear_run(self, name: str) -> None:
        """Forget the previous run's pid and exit before a new start."""
        for suffix in (".pid.json", ".exit.json"):
            with contextlib.suppress(FileNotFoundError):
                self._path(name, suffix).unlink()

    def remove(self, name: str) -> None:
        self.clear_run(name)
        with contextlib.suppress(FileNotFoundError):
            self._path(name, ".json").unlink()

    def log_path(self, name: str) -> Path:
        return paths.logs_dir() / f"{name}.log"
