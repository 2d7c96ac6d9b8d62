"""What a project is: a user's Celery app with its interpreter, working directory and env.

The built-in project ``demo`` is Pooldesk's own demo app in Pooldesk's own environment on
Pooldesk's broker — exactly how workers ran before projects existed — so it is never saved and
cannot be removed. Every other project runs in its own interpreter and, unless the user picked
``managed_broker``, on the broker its app is configured with (never a silent override).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pooldesk.backend.workers.spec import APP_RE, DEFAULT_APP

DEMO = "demo"
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")


class ProjectError(ValueError):
    """Bad input about a project (exit 2 on the CLI, a message in the form); nothing changed."""


@dataclass(frozen=True)
class Project:
    name: str
    python: str  # absolute path of the interpreter ("" for the demo: Pooldesk's own)
    workdir: str  # absolute path
    app: str  # Celery's -A: "proj.celery:app" or "proj"
    env_file: str | None = None
    env: dict[str, str] = field(default_factory=dict)  # extra pairs (values are secrets too)
    managed_broker: bool = False  # True: Pooldesk's broker overrides the app's own
    # The fleet host it runs on (its python and workdir are paths there); None: this machine.
    # An agent serves only projects of its own host (backend/fleet/policy.py).
    host: str | None = None

    @property
    def builtin(self) -> bool:
        return self.name == DEMO

    def runs_on(self, host: str | None) -> bool:
        """Whether this project runs on ``host`` (None, or no host set: this machine)."""
        return self.host is None or self.host == host

    def elsewhere(self, host: str) -> str | None:
        """Why this panel cannot start the project on ``host`` ("" this machine), in the one
        sentence the Start dialog and Settings ▸ Presets say; None when it is registered there.
        Unlike ``runs_on`` (an agent's own store, where no host means its own), a project with
        no host is this panel's machine's: a fleet host has only those registered on it."""
        if (self.host or "") == host:
            return None
        there = f"on {self.host}" if self.host else "on this machine"
        return f"{self.name} is registered {there}, {f'not on {host}' if host else 'not here'}"

    def problems(self, here: bool = True) -> list[str]:
        """Cheap checks on the fields (the interpreter itself is probed in ``check``).
        ``here=False``: the paths are another host's, so only their shape is checked here
        (its agent checks they exist)."""
        out: list[str] = []
        if not NAME_RE.match(self.name or ""):
            out.append(
                f"project name {self.name!r}: use 1-64 letters, digits, '_', '.' or '-' "
                "(not starting with '.' or '-')"
            )
        if not APP_RE.match(self.app or ""):
            out.append(f"app {self.app!r}: give an import path like 'proj.celery:app' or 'proj'")
        python = Path(self.python)
        if not python.is_absolute():
            out.append(f"python {self.python!r}: give an absolute path")
        elif not here:
            pass
        elif not python.exists():
            out.append(f"python {self.python}: no such file")
        elif python.is_dir():
            out.append(f"python {self.python}: is a directory, not an interpreter")
        workdir = Path(self.workdir)
        if here and (not workdir.is_absolute() or not workdir.is_dir()):
            out.append(f"workdir {self.workdir}: no such directory")
        elif not workdir.is_absolute():
            out.append(f"workdir {self.workdir!r}: give an absolute path")
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def public(self) -> dict[str, Any]:
        """What ``project show --json`` prints: env keys without their values."""
        data = self.to_dict()
        data["env"] = sorted(self.env)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Project:
        return cls(
            name=str(data["name"]),
            python=str(data["python"]),
            workdir=str(data["workdir"]),
            app=str(data["app"]),
            env_file=data.get("env_file") or None,
            env={str(k): str(v) for k, v in (data.get("env") or {}).items()},
            managed_broker=bool(data.get("managed_broker", False)),
            host=str(data["host"]) if data.get("host") else None,
        )


def demo_project() -> Project:
    """The built-in demo: Pooldesk's interpreter, app and broker (shown, never saved)."""
    import sys

    return Project(
        name=DEMO,
        python=sys.executable,
        workdir=str(Path.cwd()),
        app=DEFAULT_APP,
        managed_broker=True,
    )
