"""Saved projects under ``$POOLDESK_HOME/projects``, one 0600 JSON file each.

``NAME.json`` holds the project (env pairs included: secrets, hence 0600); ``NAME.check.json``
the last check's result, the *real* broker URL included — the one place it is kept, so the
panel can reach a project's workers on that broker without importing the app again. Nothing
printed or shown comes from these files unmasked.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from pooldesk.backend import paths
from pooldesk.backend.fsutil import read_json, write_json_atomic
from pooldesk.backend.projects.check import CheckResult
from pooldesk.backend.projects.model import DEMO, Project, ProjectError
from pooldesk.backend.redact import mask_url

HOST_CHECKS = "host-checks"  # a folder: ``names()`` lists ``*.json`` of the top level only


class ProjectStore:
    def __init__(self, directory: Path | None = None) -> None:
        # Created on the first write only: listing projects must not create anything.
        override = os.environ.get(paths.HOME_ENV)
        root = Path(override).expanduser() if override else paths.home()
        self.dir = directory or root / "projects"

    def _writable(self) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self.dir

    def names(self) -> list[str]:
        return sorted(
            p.name[: -len(".json")]
            for p in self.dir.glob("*.json")
            if not p.name.endswith(".check.json")
        )

    def all(self) -> list[Project]:
        return [p for p in (self.load(n) for n in self.names()) if p is not None]

    def load(self, name: str) -> Project | None:
        data = read_json(self.dir / f"{name}.json")
        if not isinstance(data, dict):
            return None
        try:
            return Project.from_dict(data)
        except (KeyError, TypeError, ValueError):
            return None

    def get(self, name: str) -> Project:
        project = self.load(name)
        if project is None:
            known = ", ".join([DEMO, *self.names()])
            raise ProjectError(f"no project named {name!r} (known: {known})")
        return project

    def add(self, project: Project, replace: bool = False) -> None:
        if project.name == DEMO or (not replace and (self.dir / f"{project.name}.json").exists()):
            raise ProjectError(f"a project named {project.name!r} already exists")
        write_json_atomic(self._writable() / f"{project.name}.json", project.to_dict())

    def remove(self, name: str) -> None:
        if name == DEMO:
            raise ProjectError("the demo project is built in and cannot be removed")
        self.get(name)
        for path in (
            self.dir / f"{name}.json",
            self.dir / f"{name}.check.json",
            self.dir / HOST_CHECKS / f"{name}.json",
        ):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def save_check(self, name: str, result: CheckResult) -> None:
        write_json_atomic(self._writable() / f"{name}.check.json", result.to_dict())

    def last_check(self, name: str) -> CheckResult | None:
        data = read_json(self.dir / f"{name}.check.json")
        return CheckResult.from_dict(data) if isinstance(data, dict) else None

    def save_host_check(self, name: str, host: str, check: dict[str, Any]) -> None:
        """The check an agent ran on ``host`` for its project ``name`` (its reply's public
        part), kept with this panel's mirror of that project. A reply that is not a check
        is not kept."""
        data = _public(check)
        if data is None:
            return
        folder = self._writable() / HOST_CHECKS
        folder.mkdir(exist_ok=True, mode=0o700)
        write_json_atomic(folder / f"{name}.json", {**data, "checked_on": host})

    def host_check(self, name: str) -> dict[str, Any] | None:
        data = read_json(self.dir / HOST_CHECKS / f"{name}.json")
        public = _public(data) if isinstance(data, dict) else None
        if public is None or not isinstance(data, dict):
            return None
        return {**public, "checked_on": str(data.get("checked_on") or "")}

    def shown_check(self, project: Project, here: str) -> dict[str, Any] | None:
        """The project's last check as it may be printed or shown (URLs masked), with
        ``checked_on``: the host it ran on (``here`` for this machine's own projects). The one
        answer ``project list``/``show`` and the window's Projects section give."""
        if project.host:
            return self.host_check(project.name)
        last = self.last_check(project.name)
        return {**last.public(), "checked_on": here} if last is not None else None


def _public(check: dict[str, Any]) -> dict[str, Any] | None:
    """A check as ``CheckResult.public()`` has it (every field there, URLs and the error
    masked), whatever an agent sent or a hand-edited file holds; None for what is no check."""
    try:
        data = CheckResult.from_dict(check).public()
        data["error"] = mask_url(data["error"]) if data["error"] else None
    except (TypeError, ValueError, KeyError, AttributeError):
        return None
    return data
