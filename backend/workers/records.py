"""Per-worker files under ``$POOLDESK_HOME/workers``: how Pooldesk processes share what they know.

Each file has exactly one writer, so no two processes ever race on the same file:
``NAME.json`` (the manager: spec, supervisor pid, stop request, first ping), ``NAME.pid.json``
(the supervisor: Celery's main pid) and ``NAME.exit.json`` (the supervisor: how it ended).
``.NAME.lock`` is the per-worker lock (:meth:`RecordStore.lock`), held across check-and-start.

Every file is validated field by field when read: a record edited by hand or damaged
(``"celery_pid": "abc"``) is treated as absent and named in :meth:`RecordStore.problems`, so one
bad file costs one line in the list, never the list (it used to be a ``TypeError`` in a sort).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import typing
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from pooldesk.backend import paths
from pooldesk.backend.fsutil import write_json_atomic
from pooldesk.backend.workers.info import WorkerError
from pooldesk.backend.workers.spec import SpecError, WorkerSpec


class RecordError(ValueError):
    """A worker file that exists but cannot be used, phrased for a person."""


class WorkerBusy(WorkerError):
    """Another Pooldesk process holds this worker's lock (``RecordStore.lock(wait=False)``)."""


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
    broker: str | None = None  # the broker URL it was started with, masked (moved ports)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["spec"] = self.spec.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerRecord:
        data = dict(data)
        if not isinstance(data.get("spec"), dict):
            raise RecordError("spec is missing")
        try:
            spec = WorkerSpec.from_dict(data["spec"])
        except (KeyError, TypeError, ValueError) as exc:
            raise RecordError(f"spec is unreadable ({exc})") from None
        if not isinstance(spec.name, str):
            raise RecordError("spec has no name")
        data["spec"] = spec
        return _typed(cls, data, skip=("spec",))


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


def _check(value: Any, hint: Any) -> bool:
    """``value`` fits the annotation ``hint`` (int, float, bool, str, X | None, list[float])."""
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin is list:
        return isinstance(value, list) and all(_check(v, args[0]) for v in value)
    if args:  # a union: X | None
        return any(_check(value, arg) for arg in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False  # true/false is no pid nor a time
    if hint is float:
        return isinstance(value, int | float)
    return isinstance(value, hint)


_T = typing.TypeVar("_T")


def _typed(cls: type[_T], data: dict[str, Any], skip: tuple[str, ...] = ()) -> _T:
    """``cls(**data)`` after checking each known field's type; unknown keys are ignored (a
    newer Pooldesk's fields), a missing required one or a wrong type is a :class:`RecordError`."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name not in data:
            continue
        value = data[f.name]
        if f.name not in skip and not _check(value, hints[f.name]):
            raise RecordError(f"{f.name} is {json.dumps(value)[:40]}, not {_kind(hints[f.name])}")
        values[f.name] = value
    try:
        return cls(**values)
    except TypeError:
        missing = [f.name for f in fields(cls) if f.name not in values]  # type: ignore[arg-type]
        raise RecordError(f"{', '.join(missing)} missing") from None


def _kind(hint: Any) -> str:
    text = str(hint).replace("typing.", "")
    return {
        "int": "a whole number",
        "int | None": "a whole number",
        "float": "a number",
        "float | None": "a number",
        "bool": "true or false",
    }.get(text, text)


def _read(path: Path) -> Any | None:
    """The JSON in ``path``; None if absent; :class:`RecordError` if unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordError(f"not valid JSON ({str(exc)[:60]})") from None
    except OSError as exc:
        raise RecordError(exc.strerror or type(exc).__name__) from None


class RecordStore:
    def __init__(self, directory: Path | None = None) -> None:
        self.dir = directory or paths.workers_dir()

    # -- one worker per name -----------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, name: str, wait: bool = True) -> Iterator[None]:
        """The worker's own lock (``flock`` on ``.NAME.lock``), between every Pooldesk process
        on this data directory: held across check-and-start, so two ``worker start same`` at
        once (two CLIs, a CLI and the window) start one worker and refuse the other. Not
        re-entrant: hold it in the outermost operation only. ``wait=False``: raise
        :class:`WorkerBusy` at once if someone else holds it."""
        fd = os.open(self._path(f".{name}", ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                raise WorkerBusy(
                    f"worker {name!r} is being started or restarted by another Pooldesk process; "
                    "try again in a moment"
                ) from None
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def _path(self, name: str, suffix: str) -> Path:
        return self.dir / f"{name}{suffix}"

    def names(self) -> list[str]:
        return sorted(
            p.name[: -len(".json")]
            for p in self.dir.glob("*.json")
            if not p.name.endswith((".pid.json", ".exit.json")) and not p.name.startswith(".")
        )

    def load(self, name: str) -> WorkerRecord | None:
        try:
            return self.load_checked(name)
        except RecordError:
            return None

    def load_checked(self, name: str) -> WorkerRecord | None:
        """The record, None if there is none, :class:`RecordError` if the file is bad."""
        data = _read(self._path(name, ".json"))
        if data is None:
            return None
        if not isinstance(data, dict):
            raise RecordError("not a JSON object")
        try:
            record = WorkerRecord.from_dict(data)
        except SpecError as exc:
            raise RecordError(str(exc)) from None
        if record.spec.name != name:
            raise RecordError(f"it names another worker ({record.spec.name!r})")
        return record

    def problems(self) -> dict[str, str]:
        """Bad files under ``workers/``: worker name → one line naming the file and why."""
        out: dict[str, str] = {}
        for name in self.names():
            for suffix, reader in (
                (".json", self.load_checked),
                (".pid.json", self._pid_checked),
                (".exit.json", self._exit_checked),
            ):
                try:
                    reader(name)
                except RecordError as exc:
                    out[name] = f"worker record workers/{name}{suffix} is unreadable: {exc}"
                    break
        return out

    def save(self, record: WorkerRecord) -> None:
        write_json_atomic(self._path(record.spec.name, ".json"), record.to_dict())

    def pid_info(self, name: str) -> PidInfo | None:
        try:
            return self._pid_checked(name)
        except RecordError:
            return None

    def exit_info(self, name: str) -> ExitInfo | None:
        try:
            return self._exit_checked(name)
        except RecordError:
            return None

    def _pid_checked(self, name: str) -> PidInfo | None:
        data = _read(self._path(name, ".pid.json"))
        if data is None:
            return None
        if not isinstance(data, dict):
            raise RecordError("not a JSON object")
        return _typed(PidInfo, data)

    def _exit_checked(self, name: str) -> ExitInfo | None:
        data = _read(self._path(name, ".exit.json"))
        if data is None:
            return None
        if not isinstance(data, dict):
            raise RecordError("not a JSON object")
        return _typed(ExitInfo, data)

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
