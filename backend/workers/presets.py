"""Worker presets: a name and a worker shape (pool × concurrency on queues), started in one click.

They live in ``settings.presets`` as plain dicts (``name``, ``pool``, ``concurrency``,
``queues``, and optionally ``project`` and ``host``: the fleet host its workers start on, absent
for this machine, so files written before hosts existed load unchanged); while that list is
empty the defaults below are offered. A started preset gets a
free worker name derived from the preset's: ``Invoices`` → ``invoices-1``, ``invoices-2``…
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pooldesk.backend.fleet.sign import HOST_RE
from pooldesk.backend.projects.model import DEMO
from pooldesk.backend.projects.store import ProjectStore
from pooldesk.backend.workers import names
from pooldesk.backend.workers.spec import (
    DEFAULT_APP,
    WorkerSpec,
    cores,
    parse_queues,
    pool_unavailable,
)

_NOT_NAME = re.compile(r"[^a-z0-9_.-]+")


def default_presets(platform: str | None = None) -> list[dict[str, Any]]:
    """The common set-up; where prefork cannot run (Windows) CPU-bound queues get solo workers,
    started once per core, because solo is the only pool there that uses a core per process."""
    if pool_unavailable("prefork", platform):
        return [
            {"name": "Invoices", "pool": "solo", "concurrency": 1, "queues": ["invoices"]},
            {"name": "Monitoring", "pool": "gevent", "concurrency": 200, "queues": ["monitoring"]},
            {
                "name": "Orchestration",
                "pool": "solo",
                "concurrency": 1,
                "queues": ["orchestration"],
            },
        ]
    return [
        {"name": "Invoices", "pool": "prefork", "concurrency": cores(), "queues": ["invoices"]},
        {"name": "Monitoring", "pool": "gevent", "concurrency": 200, "queues": ["monitoring"]},
        {
            "name": "Orchestration",
            "pool": "prefork",
            "concurrency": 1,
            "queues": ["orchestration"],
        },
    ]


def effective_presets(presets: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The configured presets, or the defaults while none are configured."""
    return [dict(p) for p in presets] if presets else default_presets()


def base_name(preset_name: str) -> str:
    """``"Invoices (EU)"`` → ``"invoices-eu"``: a worker-name prefix."""
    base = _NOT_NAME.sub("-", str(preset_name).strip().lower()).strip("-.")
    return base[:56] or "worker"


def queues_of(preset: dict[str, Any]) -> tuple[str, ...]:
    queues = preset.get("queues") or ()
    if isinstance(queues, str):
        return parse_queues(queues)
    return tuple(str(q) for q in queues)


def host_of(preset: dict[str, Any]) -> str:
    """The fleet host a preset's workers start on; "" for this machine."""
    return str(preset.get("host") or "").strip()


def host_problem(host: str) -> str | None:
    """Why ``host`` cannot be a preset's host (the fleet's own rule, ``HOST_RE``: an agent
    answers only to such a name); None when it can ("" is this machine)."""
    if not host or HOST_RE.match(host):
        return None
    return (
        f"host {host!r} is not a host name: use 1-64 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit"
    )


def label(preset: dict[str, Any]) -> str:
    """``Invoices: prefork × 8 on invoices``."""
    text = (
        f"{preset.get('name', '?')}: {preset.get('pool', '?')} × {preset.get('concurrency', '?')}"
        f" on {', '.join(queues_of(preset)) or '?'}"
    )
    return f"{text} (project {preset['project']})" if preset.get("project") else text


def free_name(preset_name: str, taken: Iterable[str]) -> str:
    """The preset's name as a worker-name prefix, numbered by the one free-name scheme."""
    return names.free_name(base_name(preset_name), taken)


def spec_for(preset: dict[str, Any], taken: Iterable[str] = ()) -> WorkerSpec:
    """The worker a preset starts, with a name none of ``taken`` has."""
    project = str(preset.get("project") or "") or None
    saved = ProjectStore().load(project) if project and project != DEMO else None
    return WorkerSpec(
        name=free_name(str(preset.get("name", "")), taken),
        pool=str(preset.get("pool", "prefork")),
        concurrency=preset.get("concurrency", 1),
        queues=queues_of(preset),
        project=project if project != DEMO else None,
        app=saved.app if saved else DEFAULT_APP,  # a project gone: its start says so
    )


def problems(preset: dict[str, Any], platform: str | None = None) -> list[str]:
    """What is wrong with a preset, as the settings page shows it (empty when usable)."""
    name = str(preset.get("name", "")).strip()
    out = [] if name else ["name: give the preset a name"]
    spec = spec_for(preset)
    out += [p for p in spec.problems(platform) if not p.startswith("name ")]
    host = host_problem(host_of(preset))
    return out + ([host] if host else []) + project_host_problems(preset)


def elsewhere(preset: dict[str, Any], host: str) -> str | None:
    """Why the preset's project cannot start on ``host`` ("" this machine): it is registered
    on another one (the Start dialog's sentence); None when it can (or is the demo)."""
    project = str(preset.get("project") or "")
    saved = ProjectStore().load(project) if project and project != DEMO else None
    return saved.elsewhere(host) if saved else None


def project_host_problems(preset: dict[str, Any]) -> list[str]:
    """A preset whose project is registered on another host than the preset's: its start would
    be refused there (an agent starts only its own host's projects; this machine, only its
    own). Said in the Start dialog's words, with the two ways out."""
    where = elsewhere(preset, host_of(preset))
    if where is None:
        return []
    saved = ProjectStore().load(str(preset.get("project")))
    home = (saved.host if saved else "") or "This machine"
    return [f"{where}: set Host to {home}, or pick another project"]
