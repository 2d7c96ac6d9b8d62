"""Typed settings: a JSON file under ``$POOLDESK_HOME`` with environment overrides.

Environment variables win over the file so that a deployment (or a test) can pin a value
without editing the user's file. A corrupt file never stops Pooldesk from starting: it is kept
aside as a backup and replaced by defaults, with a message the UI/CLI shows once
(``backend/setaside.py``: whichever process sets it aside, the next front end announces it).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from pooldesk.backend import paths
from pooldesk.backend.setaside import set_aside

SCHEMA_VERSION = 1

APPEARANCES = ("system", "light", "dark")
ENV_OVERRIDES = {
    "broker_url": "POOLDESK_BROKER_URL",
    "result_backend": "POOLDESK_RESULT_BACKEND",
    "invoice_db": "POOLDESK_INVOICE_DB",
}


@dataclass
class Settings:
    """What a user may configure. ``None`` means "Pooldesk decides" (e.g. the managed broker)."""

    version: int = SCHEMA_VERSION
    broker_url: str | None = None
    result_backend: str | None = None
    invoice_db: str | None = None
    sampling_interval: float = 1.0
    stop_timeout: float = 60.0
    start_timeout: float = 30.0
    visibility_timeout: float = 900.0
    worker_nice: int = 10  # local workers yield the CPU to the window (0 = same priority)
    metrics_port: int = 0  # the window serves Prometheus /metrics on 127.0.0.1 here (0 = off)
    advisor: dict[str, Any] = field(default_factory=dict)
    presets: list[dict[str, Any]] = field(default_factory=list)
    # Task history (backend/taskhistory): retention, and whether arguments/results are kept.
    task_history_max_tasks: int = 500_000
    task_history_max_days: float = 30.0
    task_history_hide_args: bool = False
    # The window's colours: follow the system's light/dark scheme, or force one.
    appearance: str = "system"
    # The fleet (backend/fleet): the shared key's file (0600) and how old a command may be.
    fleet_key_file: str | None = None
    fleet_window: float = 30.0

    def validate(self) -> list[str]:
        """Problems a user must fix; empty when the settings are usable."""
        problems: list[str] = []
        for name in ("broker_url", "result_backend"):
            value = getattr(self, name)
            if value is not None and not _is_broker_url(value):
                problems.append(
                    f"{name}: {value.split('@')[-1]!r} is not a redis://, rediss:// or amqp:// URL"
                )
        if not 0.1 <= self.sampling_interval <= 60:
            problems.append("sampling_interval: must be between 0.1 and 60 seconds")
        if not 1 <= self.stop_timeout <= 3600:
            problems.append("stop_timeout: must be between 1 and 3600 seconds")
        if not 1 <= self.start_timeout <= 600:
            problems.append("start_timeout: must be between 1 and 600 seconds")
        problems += _advisor_problems(self.advisor)
        if not isinstance(self.presets, list) or not all(isinstance(p, dict) for p in self.presets):
            problems.append("presets: expected a list of objects")
        else:
            problems += _preset_host_problems(self.presets)
        if not 0 <= self.worker_nice <= 19:
            problems.append("worker_nice: must be between 0 (same priority) and 19 (lowest)")
        if not 0 <= self.metrics_port <= 65535:
            problems.append("metrics_port: must be 0 (off) or a port between 1 and 65535")
        if not 5 <= self.visibility_timeout <= 7 * 86400:
            problems.append("visibility_timeout: must be between 5 seconds and 7 days")
        problems += _task_history_problems(self)
        if not 5 <= self.fleet_window <= 600:
            problems.append("fleet_window: must be between 5 and 600 seconds")
        if self.appearance not in APPEARANCES:
            problems.append("appearance: must be system, light or dark")
        return problems


def _task_history_problems(s: Settings) -> list[str]:
    out = []
    count = s.task_history_max_tasks
    if isinstance(count, bool) or not isinstance(count, int) or not 1_000 <= count <= 10_000_000:
        out.append("task_history_max_tasks: must be a whole number from 1,000 to 10,000,000")
    days = s.task_history_max_days
    if isinstance(days, bool) or not isinstance(days, int | float) or not 0.01 <= days <= 3650:
        out.append("task_history_max_days: must be a number of days from 0.01 to 3650")
    if not isinstance(s.task_history_hide_args, bool):
        out.append("task_history_hide_args: expected true or false")
    return out


def _advisor_problems(advisor: Any) -> list[str]:
    """Thresholds are numbers, ``queue_nature`` maps queue names to ``cpu`` or ``io``."""
    if not isinstance(advisor, dict):
        return ["advisor: expected an object"]
    out = []
    for key, value in advisor.items():
        if key == "queue_nature":
            if not isinstance(value, dict) or not all(
                isinstance(q, str) and v in ("cpu", "io") for q, v in value.items()
            ):
                out.append('advisor.queue_nature: expected {queue: "cpu" or "io"}')
        elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            out.append(f"advisor.{key}: expected a number >= 0")
    return out


def _is_broker_url(value: str) -> bool:
    return value.split("://", 1)[0] in {"redis", "rediss", "amqp", "amqps", "pyamqp", "rpc"} and (
        "://" in value
    )


@dataclass
class Loaded:
    settings: Settings
    message: str | None = None  # shown once to the user: e.g. "settings.json was corrupt…"


def load(path: Path | None = None, env: bool = True) -> Loaded:
    """Read the settings file (defaults if absent), then apply environment overrides."""
    path = path or paths.settings_file()
    message = None
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("top level is not an object")
            settings = _from_dict(data)
            bad = settings.validate()
            if bad:
                raise ValueError("; ".join(bad))
        except (ValueError, TypeError, UnicodeDecodeError) as exc:
            message = _set_aside(path, exc)
            data = {}
    settings = _from_dict(data)
    if env:
        for name, var in ENV_OVERRIDES.items():
            if os.environ.get(var):
                setattr(settings, name, os.environ[var])
    return Loaded(settings, message)


def _set_aside(path: Path, exc: Exception) -> str:
    """Keep the unreadable file as a backup (announced once by the CLI and the window, see
    ``backend/setaside.py``); a folder that cannot be written leaves it where it is."""
    try:
        return set_aside(path, "Settings file", exc, then="defaults are in use")
    except OSError as err:
        return (
            f"Settings file {path} is unreadable ({exc}) and could not be set aside "
            f"({err.strerror}); defaults are in use."
        )


def _from_dict(data: dict[str, Any]) -> Settings:
    known = {f.name for f in fields(Settings)}
    kwargs = {k: v for k, v in data.items() if k in known}
    settings = Settings(**kwargs)
    for name, typ in (
        ("sampling_interval", float),
        ("stop_timeout", float),
        ("start_timeout", float),
        ("visibility_timeout", float),
        ("fleet_window", float),
    ):
        value = getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name}: expected a number, got {value!r}")
        setattr(settings, name, typ(value))
    for name in ("worker_nice", "metrics_port"):
        value = getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name}: expected a whole number, got {value!r}")
    for name in ("broker_url", "result_backend", "invoice_db", "fleet_key_file"):
        value = getattr(settings, name)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name}: expected a string or null, got {value!r}")
    return settings


def save(settings: Settings, path: Path | None = None) -> Path:
    """Write atomically (temp + rename, mode 0600: it may hold a broker password)."""
    problems = settings.validate()
    if problems:
        raise ValueError("; ".join(problems))
    path = path or paths.settings_file()
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(asdict(settings), fh, indent=2)
    os.replace(tmp, path)
    return path


def _preset_host_problems(presets: list[dict[str, Any]]) -> list[str]:
    """A preset's ``host`` (the fleet host it starts on) must be a name the fleet accepts: a
    hand-edited bad one would otherwise fail only at the first start, far from its cause."""
    from pooldesk.backend.workers.presets import host_problem

    out = []
    for i, preset in enumerate(presets):
        host = preset.get("host")
        problem = host_problem(host) if isinstance(host, str) else None
        if host is not None and not isinstance(host, str):
            problem = f"host {host!r} is not a host name"
        if problem:
            out.append(f"presets[{i}]: {problem}")
    return out
