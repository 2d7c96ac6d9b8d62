"""``pooldesk project add|list|show|remove|check``: the user's own Celery apps.

Registered by the parser; the handlers import the project modules when they run so that
``pooldesk --help`` stays fast. Bad input (interpreter, workdir, app, env file, name clash, an
app that does not import) exits 2 with one line and saves nothing. No env value is ever printed:
``show`` lists env keys only, and every error text is masked with the project's values.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from pooldesk.backend.cli.grammar import Parser
from pooldesk.backend.cli.output import emit_json, fail


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    project = sub.add_parser("project", help="your own Celery projects (interpreter, app, env)")
    psub = project.add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=Parser
    )
    add = psub.add_parser("add", help="save a project after importing its app once")
    add.add_argument("name", help="a name for the project (letters, digits, - and _)")
    where = add.add_mutually_exclusive_group(required=True)
    where.add_argument("--python", help="the project's interpreter (absolute path)")
    where.add_argument("--venv", metavar="DIR", help="its virtualenv: DIR/bin/python")
    add.add_argument("--workdir", required=True, help="the directory the worker runs in")
    add.add_argument("--app", "-A", required=True, help="Celery app: proj.celery:app or proj")
    add.add_argument("--env-file", default=None, help="dotenv file (KEY=value lines)")
    add.add_argument("--env", action="append", default=[], metavar="K=V", help="repeatable")
    add.add_argument(
        "--use-managed-broker",
        action="store_true",
        help="run its workers on Pooldesk's managed broker instead of the app's own",
    )
    add.add_argument("--json", action="store_true")
    add.set_defaults(handler=add_project)
    plist = psub.add_parser("list", help="saved projects (and the built-in demo)")
    plist.add_argument("--json", action="store_true")
    plist.set_defaults(handler=list_projects)
    for name, handler, text in (
        ("show", show, "a project's settings and its last check"),
        ("remove", remove, "forget a project (its workers must be stopped)"),
        ("check", check, "import the app in its interpreter: versions, broker, tasks, queues"),
    ):
        cmd = psub.add_parser(name, help=text)
        cmd.add_argument("name", help="the project's name (pooldesk project list)")
        cmd.add_argument("--json", action="store_true")
        cmd.set_defaults(handler=handler)


def _abspath(path: str | None) -> str | None:
    import os

    return os.path.abspath(os.path.expanduser(path)) if path else None


def add_project(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pooldesk.backend.projects.check import run_check
    from pooldesk.backend.projects.envfile import EnvFileError, parse_file, parse_pairs
    from pooldesk.backend.projects.model import Project, ProjectError
    from pooldesk.backend.projects.store import ProjectStore

    python = _abspath(args.python) or str(Path(_abspath(args.venv) or "") / "bin" / "python")
    store = ProjectStore()
    secrets: list[str] = [p.partition("=")[2] for p in args.env]
    try:
        env = parse_pairs(args.env)
        env_file = _abspath(args.env_file)
        if env_file:
            secrets += list(parse_file(Path(env_file)).values())
        project = Project(
            name=args.name,
            python=python,
            workdir=_abspath(args.workdir) or "",
            app=args.app,
            env_file=env_file,
            env=env,
            managed_broker=args.use_managed_broker,
        )
        if store.load(project.name) is not None or project.builtin:
            raise ProjectError(f"a project named {project.name!r} already exists")
        result = run_check(project)
        if not result.ok:
            raise ProjectError(f"app {project.app} does not import: {result.error}")
        store.add(project)
        store.save_check(project.name, result)
    except (ProjectError, EnvFileError) as exc:
        return fail(str(exc), code=2, secrets=secrets)
    if args.json:
        emit_json({**project.public(), "check": result.public()})
    else:
        print(f"project {project.name} saved")
        _print_check(result.public(), project.managed_broker)
    if not project.managed_broker:
        _warn_if_broker_down(result.broker_url, result.result_backend)
    return 0


def _warn_if_broker_down(url: str | None, backend: str | None) -> None:
    """Saved anyway (the broker may simply not be up yet); its workers will not start until
    it answers, so say it now."""
    from pooldesk.backend.broker.resolve import BrokerConfig
    from pooldesk.backend.broker.status import broker_status

    status = broker_status(BrokerConfig(url, backend, managed=False), queues=())
    if not status.up:
        print(f"warning: {status.error}", file=sys.stderr)


def list_projects(args: argparse.Namespace) -> int:
    """Every project with its broker (masked) and its last check: where it ran and when. A
    project of another host shows the check its agent ran there (``ProjectStore.shown_check``)."""
    from pooldesk.backend.fleet.probe import default_host_name
    from pooldesk.backend.projects.model import demo_project
    from pooldesk.backend.projects.report import broker_words, checked_words
    from pooldesk.backend.projects.store import ProjectStore

    here = os.environ.get("POOLDESK_FLEET_HOST") or default_host_name()
    store = ProjectStore()
    rows = [(demo_project(), None)] + [(p, store.shown_check(p, here)) for p in store.all()]
    if args.json:
        emit_json(
            [
                {
                    **p.public(),
                    "host": p.host or here,
                    "builtin": p.builtin,
                    "broker": "managed" if p.managed_broker else (c or {}).get("broker_url"),
                    "checked_on": (c or {}).get("checked_on"),
                    "checked_at": (c or {}).get("checked_at"),
                    "check_ok": (c or {}).get("ok"),
                }
                for p, c in rows
            ]
        )
        return 0
    from pooldesk.backend.cli.output import table

    body = [
        [
            p.name,
            p.host or here,
            p.app,
            "Pooldesk's own" if p.builtin else p.python,
            broker_words(c, p.managed_broker),
            "built in" if p.builtin else checked_words(c),
        ]
        for p, c in rows
    ]
    print(table(["NAME", "HOST", "APP", "PYTHON", "BROKER", "CHECKED"], body))
    return 0


def show(args: argparse.Namespace) -> int:
    from pooldesk.backend.fleet.probe import default_host_name
    from pooldesk.backend.projects.model import DEMO, ProjectError, demo_project
    from pooldesk.backend.projects.report import checked_words
    from pooldesk.backend.projects.store import ProjectStore

    store = ProjectStore()
    try:
        project = demo_project() if args.name == DEMO else store.get(args.name)
    except ProjectError as exc:
        return fail(str(exc), code=2)
    here = os.environ.get("POOLDESK_FLEET_HOST") or default_host_name()
    last = store.shown_check(project, here)
    data = {
        **project.public(),
        "builtin": project.builtin,
        "check": last,
    }
    if args.json:
        emit_json(data)
        return 0
    for key in ("name", "python", "workdir", "app", "env_file"):
        print(f"{key + ':':<10} {data[key] or '-'}")
    print(f"{'env:':<10} {', '.join(data['env']) or '-'} (values hidden)")
    print(f"{'broker:':<10} {'Pooldesk managed' if project.managed_broker else 'the app own'}")
    if last is not None:
        print(f"{'checked:':<10} {checked_words(last)}")
        _print_check(last, project.managed_broker)
    return 0


def remove(args: argparse.Namespace) -> int:
    from pooldesk.backend.projects.model import ProjectError
    from pooldesk.backend.projects.store import ProjectStore
    from pooldesk.backend.workers.records import RecordStore

    running = [
        r.spec.name
        for r in (RecordStore().load(n) for n in RecordStore().names())
        if r is not None and r.spec.project == args.name
    ]
    if running:
        return fail(
            f"project {args.name} has workers ({', '.join(running)}): stop and forget them first",
            code=2,
        )
    try:
        ProjectStore().remove(args.name)
    except ProjectError as exc:
        return fail(str(exc), code=2)
    print(f"project {args.name} removed")
    return 0


def check(args: argparse.Namespace) -> int:
    from pooldesk.backend.projects.check import run_check
    from pooldesk.backend.projects.model import DEMO, ProjectError, demo_project
    from pooldesk.backend.projects.runenv import secrets
    from pooldesk.backend.projects.store import ProjectStore

    store = ProjectStore()
    try:
        project = demo_project() if args.name == DEMO else store.get(args.name)
        result = run_check(project)
    except ProjectError as exc:
        return fail(str(exc), code=2)
    if not project.builtin:
        store.save_check(project.name, result)
    if args.json:
        emit_json(result.public())
    else:
        _print_check(result.public(), project.managed_broker)
    if not result.ok:
        return fail(f"app {project.app} does not import: {result.error}", secrets=secrets(project))
    return 0


def _print_check(data: dict[str, Any], managed: bool) -> None:
    if data.get("error"):
        print(f"import error: {data['error']}")
        return
    print(f"Python {data['python']}, Celery {data['celery']}")
    note = " (not used: this project runs on Pooldesk's managed broker)" if managed else ""
    print(f"broker:  {data['broker_url']}{note}")
    print(f"results: {data['result_backend'] or '-'}")
    pools = data.get("pools") or {}
    can = [p for p, why in pools.items() if not why]
    print(f"pools:   {', '.join(can)}")
    for pool, why in pools.items():
        if why:
            print(f"         {pool}: {why}")
    print(f"queues:  {', '.join(data.get('queues') or [])} (default {data['default_queue']})")
    tasks = data.get("tasks") or []
    print(f"tasks:   {len(tasks)}")
    for task in tasks:
        print(f"  {task['name']}  → {task['queue']}")
