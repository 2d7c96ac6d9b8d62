"""Project registration on an agent's host: ``project add|check|remove --host H``.

The panel sends the paths as they are on that host; the agent builds the project with
``host`` = itself, runs the same check as a local ``project add`` (the app imported once in its
interpreter), saves it in its own store, and answers with the check's public part (URLs
masked). An edit is the same request with ``replace``: the project must already be this host's;
nothing is replaced unless the edited project's app imports. Env values are never sent through
the broker: a project registered on another host takes an env file that lives there.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pooldesk.backend.projects.model import Project, ProjectError
from pooldesk.backend.projects.store import ProjectStore
from pooldesk.backend.workers.records import RecordStore

FIELDS = ("name", "python", "workdir", "app", "env_file", "managed_broker", "replace")


def _result(rid: str, op: str, name: str, ok: bool, text: str, **data: Any) -> dict[str, Any]:
    state = "done" if ok else "failed"
    if not ok:
        data.setdefault("reason", "invalid")
    return {"id": rid, "op": op, "name": name, "state": state, "ok": ok, "text": text, "data": data}


def run_project_op(
    rid: str, op: str, params: dict[str, Any], host: str, store: ProjectStore
) -> dict[str, Any]:
    from pooldesk.backend.projects.check import run_check

    name = str(params.get("name", ""))
    if op == "project_add":
        unknown = sorted(set(params) - set(FIELDS))
        if unknown:
            return _result(rid, op, name, False, f"unknown field(s): {', '.join(unknown)}")
        try:
            project = Project(
                name=name,
                python=str(params.get("python", "")),
                workdir=str(params.get("workdir", "")),
                app=str(params.get("app", "")),
                env_file=str(params["env_file"]) if params.get("env_file") else None,
                managed_broker=bool(params.get("managed_broker", False)),
                host=host,
            )
        except (TypeError, ValueError) as exc:
            return _result(rid, op, name, False, str(exc))
        problems = project.problems()
        if problems:
            return _result(rid, op, name, False, f"on host {host}: " + "; ".join(problems))
        saved = store.load(name)
        replace = bool(params.get("replace"))
        if project.builtin or (saved is not None and not replace):
            return _result(rid, op, name, False, f"a project named {name!r} already exists")
        if replace and (saved is None or not saved.runs_on(host)):
            # an edit changes this host's own project, never creates one or takes a mirror over
            return _result(rid, op, name, False, f"project {name} is not registered on host {host}")
        if replace and saved is not None and saved.env:  # pairs saved there stay (none are sent)
            project = dataclasses.replace(project, env=dict(saved.env))
        result = run_check(project)
        if not result.ok:
            return _result(
                rid,
                op,
                name,
                False,
                f"app {project.app} does not import: {result.error}",
                check=result.public(),
            )
        store.add(project, replace=replace)
        store.save_check(name, result)
        return _result(
            rid,
            op,
            name,
            True,
            f"project {name} saved on host {host}",
            project=project.public(),
            check=result.public(),
        )
    try:
        project = store.get(name)
    except ProjectError as exc:
        return _result(rid, op, name, False, str(exc))
    if not project.runs_on(host):
        return _result(rid, op, name, False, f"project {name} is not registered on host {host}")
    if op == "project_check":
        result = run_check(project)
        store.save_check(name, result)
        text = "the app imports" if result.ok else f"app does not import: {result.error}"
        return _result(rid, op, name, result.ok, text, check=result.public())
    records = RecordStore()
    running = [
        r.spec.name
        for r in (records.load(n) for n in records.names())
        if r is not None and r.spec.project == name
    ]
    if running:
        return _result(
            rid,
            op,
            name,
            False,
            f"project {name} has workers ({', '.join(running)}): stop and forget them first",
        )
    store.remove(name)
    return _result(rid, op, name, True, f"project {name} removed from host {host}")
