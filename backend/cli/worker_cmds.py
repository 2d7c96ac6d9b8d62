"""``pooldesk worker start|stop|restart|resize|list|logs|forget``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from pooldesk.backend.broker import BrokerError, current_config
from pooldesk.backend.broker.status import broker_status
from pooldesk.backend.cli.output import emit_json, fail, human_bytes, table
from pooldesk.backend.settings import load
from pooldesk.backend.workers.manager import WorkerError, WorkerInfo, WorkerManager
from pooldesk.backend.workers.spec import (
    DEFAULT_APP,
    SpecError,
    WorkerSpec,
    default_concurrency,
    parse_autoscale,
    parse_queues,
)

JSON_FIELDS = (
    "name",
    "hostname",
    "pid",
    "pool",
    "concurrency",
    "queues",
    "state",
    "remote",
    "cpu_percent",
    "memory_bytes",
    "active",
    "processed",
    "ready_seconds",
    "exit",
    "project",
    "broker",
    "problem",
    "off_broker",
)


def _manager() -> WorkerManager:
    return WorkerManager.from_settings(load().settings)


def worker_json(info: WorkerInfo) -> dict[str, object]:
    data = info.to_json()
    return {key: data[key] for key in JSON_FIELDS}


def _external_broker_down() -> str | None:
    config = current_config()
    if config.managed:
        return None  # started on demand
    status = broker_status(config, queues=())
    return None if status.up else status.error


def _report(info: WorkerInfo, as_json: bool, verb: str) -> int:
    if as_json:
        emit_json(worker_json(info))
    else:
        line = f"{info.name}: {info.state}"
        if info.pid:
            line += f" (pid {info.pid}, {info.pool} × {info.concurrency})"
        if info.ready_seconds is not None and verb in ("started", "restarted"):
            line += f", ready in {info.ready_seconds:.1f} s"
        print(line)
    if info.state == "crashed":
        detail = "; ".join(info.last_log[-3:]) if info.last_log else "no log output"
        return fail(f"worker {info.name} crashed ({info.exit}): {detail}")
    return 0


def _options(args: argparse.Namespace) -> dict[str, object]:
    """The worker options given on the command line (restart: only those given)."""
    given = {
        "loglevel": args.loglevel,
        "max_tasks_per_child": args.max_tasks_per_child,
        "max_memory_per_child": args.max_memory_per_child,
        "time_limit": args.time_limit,
        "soft_time_limit": args.soft_time_limit,
        "extra_args": tuple(args.extra) if args.extra else None,
        "soft_shutdown_timeout": getattr(args, "soft_shutdown_timeout", None),
        "soft_shutdown_on_idle": getattr(args, "soft_shutdown_on_idle", None),
        "disable_prefetch": getattr(args, "disable_prefetch", None),
        "eta_task_limit": getattr(args, "eta_task_limit", None),
    }
    return {key: value for key, value in given.items() if value is not None}


def start(args: argparse.Namespace) -> int:
    from pooldesk.backend.projects.model import DEMO, ProjectError

    project = args.project if args.project and args.project != DEMO else None
    if project and args.app:
        return fail("give --project or --app, not both (a project names its app)", code=2)
    try:
        app = args.app or DEFAULT_APP
        if project:
            from pooldesk.backend.projects.store import ProjectStore

            app = ProjectStore().get(project).app
        spec = WorkerSpec(
            name=args.name,
            pool=args.pool,
            concurrency=args.concurrency or default_concurrency(args.pool),
            queues=parse_queues(args.queues),
            autoscale=parse_autoscale(args.autoscale) if args.autoscale else None,
            app=app,
            project=project,
            **_options(args),  # type: ignore[arg-type]
        ).validate()
        if project:
            from pooldesk.backend.projects.brokers import prepare_start

            checked = prepare_start(project, spec.pool)
            _newer_options(spec, checked.celery, checked.broker_url)
        else:
            _newer_options(spec, _own_celery(), current_config().broker_url)
    except (SpecError, ProjectError) as exc:
        return fail(str(exc), code=2, secrets=_project_secrets(project))
    for warning in spec.warnings():
        print(f"warning: {warning}")
    from pooldesk.backend.projects.brokers import own_broker

    down = _external_broker_down() if own_broker(project) is None else None
    if down:
        return fail(down)
    manager = _manager()
    try:
        info = manager.start(spec, wait=args.wait, timeout=args.timeout)
    except (WorkerError, BrokerError) as exc:
        return fail(str(exc))
    finally:
        manager.close()
    return _report(info, args.json, "started")


def _newer_options(spec: WorkerSpec, celery: str | None, broker_url: str | None) -> None:
    """Refuse Celery 5.5+/5.6+ options the project's Celery or broker does not have."""
    from pooldesk.backend.workers.celery_features import unsupported

    problems = unsupported(spec, celery, broker_url)
    if problems:
        raise SpecError(problems)


def _own_celery() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("celery")
    except PackageNotFoundError:
        return None


def stop(args: argparse.Namespace) -> int:
    manager = _manager()
    try:
        if "@" in args.name and manager.store.load(args.name) is None:
            manager.remote_shutdown(args.name)
            print(f"{args.name}: shutdown sent through the broker")
            return 0
        info = manager.stop(args.name, cold=args.cold, timeout=args.timeout)
    except WorkerError as exc:
        return fail(str(exc))
    finally:
        manager.close()
    return _report(info, args.json, "stopped")


def _project_secrets(project: str | None) -> list[str]:
    if not project:
        return []
    from pooldesk.backend.projects.runenv import secrets
    from pooldesk.backend.projects.store import ProjectStore

    saved = ProjectStore().load(project)
    return secrets(saved) if saved else []


def restart(args: argparse.Namespace) -> int:
    from pooldesk.backend.projects.model import ProjectError

    queues = parse_queues(args.queues) if args.queues is not None else None
    manager = _manager()
    changes: dict[str, Any] = _options(args)
    project: str | None = None
    try:
        if args.autoscale:
            changes["autoscale"] = parse_autoscale(args.autoscale)
        spec = manager.restart_spec(
            args.name, pool=args.pool, concurrency=args.concurrency, queues=queues, **changes
        )
        project = spec.project
        if project:
            from pooldesk.backend.projects.brokers import prepare_start

            checked = prepare_start(project, spec.pool)
            _newer_options(spec, checked.celery, checked.broker_url)
        else:
            _newer_options(spec, _own_celery(), current_config().broker_url)
        info = manager.restart(
            args.name, pool=args.pool, concurrency=args.concurrency, queues=queues, **changes
        )
    except (SpecError, ProjectError) as exc:
        return fail(str(exc), code=2, secrets=_project_secrets(project))
    except (WorkerError, BrokerError) as exc:
        return fail(str(exc))
    finally:
        manager.close()
    return _report(info, args.json, "restarted")


def resize(args: argparse.Namespace) -> int:
    manager = _manager()
    try:
        if "@" in args.name and manager.store.load(args.name) is None:
            workers = {w.hostname: w for w in manager.control.remote_workers()}
            current = workers.get(args.name)
            if current is None or current.concurrency is None:
                return fail(f"{args.name} is not a worker on this broker")
            manager.remote_resize(args.name, args.concurrency - current.concurrency)
            method = "live"
        else:
            method = manager.resize(args.name, args.concurrency).method
    except SpecError as exc:
        return fail(str(exc), code=2)
    except WorkerError as exc:
        return fail(str(exc))
    finally:
        manager.close()
    how = "live (pool_grow/pool_shrink)" if method == "live" else "by restarting the worker"
    if args.json:
        emit_json({"name": args.name, "concurrency": args.concurrency, "method": method})
    else:
        print(f"{args.name}: concurrency {args.concurrency}, changed {how}")
    return 0


def list_workers(args: argparse.Namespace) -> int:
    manager = _manager()
    try:
        manager.prime_cpu()
        time.sleep(0.5)  # CPU % is measured over this interval
        workers = manager.all(include_remote=not args.local and _external_broker_down() is None)
    finally:
        manager.close()
    for name in manager.adopted:
        print(
            f"note: the supervisor of {name} was gone while Celery ran on; restarting it under "
            "a new supervisor (see pooldesk worker logs " + name + ")",
            file=sys.stderr,
        )
    for problem in manager.problems.values():  # one line per bad record; the rest is listed
        print(f"warning: {problem}", file=sys.stderr)
    for w in workers:
        if w.problem and w.name not in manager.problems:
            print(f"warning: {w.name}: {w.problem}", file=sys.stderr)
        if w.off_broker:
            print(f"warning: {w.name} {w.off_broker}", file=sys.stderr)
    if args.json:
        emit_json([worker_json(w) for w in workers])
        return 0
    if not workers:
        print("no workers (start one: pooldesk worker start NAME --pool prefork --queues invoices)")
        return 0
    rows = [
        [
            w.name + (" (remote)" if w.remote else ""),
            w.project or "-",
            w.state,
            w.pool or "-",
            str(w.concurrency or "-"),
            ",".join(w.queues),
            str(w.pid or "-"),
            f"{w.cpu_percent:.0f} %" if w.cpu_percent is not None else "-",
            human_bytes(w.memory_bytes),
            (w.broker or "-") + (" (unreachable)" if w.off_broker else ""),
        ]
        for w in workers
    ]
    headers = ["NAME", "PROJECT", "STATE", "POOL", "CONC", "QUEUES", "PID", "CPU", "USS", "BROKER"]
    print(table(headers, rows))
    return 0


def logs(args: argparse.Namespace) -> int:
    manager = _manager()
    try:
        lines = manager.logs(args.name, args.lines)
        if args.json and not args.follow:
            emit_json({"name": args.name, "lines": list(lines)})
            return 0
        for line in lines:
            _log_line(args, line)
        if args.follow:
            for line in manager.follow(args.name):
                _log_line(args, line)
    except WorkerError as exc:
        return fail(str(exc))
    return 0


def _log_line(args: argparse.Namespace, line: str) -> None:
    """One log line as text, or as one JSON object per line (``--json --follow``)."""
    if args.json:
        print(json.dumps({"name": args.name, "line": line}), flush=True)
    else:
        print(line, flush=True)


def forget(args: argparse.Namespace) -> int:
    try:
        _manager().forget(args.name)
    except WorkerError as exc:
        return fail(str(exc))
    if args.json:
        emit_json({"name": args.name, "forgotten": True})
    else:
        print(f"{args.name}: removed from the list")
    return 0


def queues(args: argparse.Namespace) -> int:
    """Change the queues a worker consumes, live (local name or NAME@HOST of a remote one)."""
    wanted = parse_queues(args.queues)
    manager = _manager()
    try:
        if "@" in args.name and manager.store.load(args.name) is None:
            manager.remote_set_queues(args.name, wanted)
        else:
            manager.set_queues(args.name, wanted)
    except SpecError as exc:
        return fail(str(exc), code=2)
    except WorkerError as exc:
        return fail(str(exc))
    finally:
        manager.close()
    if args.json:
        emit_json({"name": args.name, "queues": list(wanted), "method": "live"})
    else:
        print(f"{args.name}: now consuming {', '.join(wanted)} (changed live)")
    return 0
