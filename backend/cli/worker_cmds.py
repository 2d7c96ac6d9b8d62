"""``pooldesk worker start|stop|restart|resize|queues|list|logs|forget``.

Every operation goes through the operations API (``backend.operations``), as the window's and
the agent's do: this module builds a request from the command line, runs it to its end
(``Operations.run``) and prints the outcome. Bad input exits 2, a refusal or failure 1.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from typing import Any

from pooldesk.backend.broker import current_config
from pooldesk.backend.broker.status import broker_status
from pooldesk.backend.cli.output import emit_json, fail, human_bytes, table
from pooldesk.backend.operations import Operations, Outcome, Request, RequestError, preflight
from pooldesk.backend.operations.masking import project_secrets
from pooldesk.backend.operations.request import INVALID
from pooldesk.backend.settings import load
from pooldesk.backend.workers.manager import WorkerInfo, WorkerManager
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
    "host",
)


def _manager() -> WorkerManager:
    return WorkerManager.from_settings(load().settings)


def _ops(manager: WorkerManager) -> Operations:
    """The CLI waits for a worker's lock another Pooldesk process holds (it may block)."""
    return Operations(manager, wait_for_lock=True)


def host_of(info: WorkerInfo) -> str:
    """The machine a worker runs on: this one for a local worker, else its node's ``@HOST``."""
    if info.remote and "@" in info.hostname:
        return info.hostname.rsplit("@", 1)[1]
    return socket.gethostname()


def worker_json(info: WorkerInfo) -> dict[str, object]:
    data = {**info.to_json(), "host": host_of(info)}
    return {key: data[key] for key in JSON_FIELDS}


def _run(request: Request) -> Outcome:
    manager = _manager()
    try:
        return _ops(manager).run(request)
    finally:
        manager.close()


def _failed(outcome: Outcome) -> int:
    return fail(outcome.text, code=2 if outcome.data.get("reason") == INVALID else 1)


def _ended(outcome: Outcome, as_json: bool, verb: str) -> int:
    """A start, restart or stop's end: the worker's line (or JSON), else why it failed."""
    worker = outcome.data.get("worker")
    if worker and (outcome.ok or outcome.data.get("reason") == "crashed"):
        return _report(WorkerInfo(**worker), as_json, verb)
    return 0 if outcome.ok else _failed(outcome)


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
            queues=parse_queues(args.queues) if args.queues else ("default",),
            autoscale=parse_autoscale(args.autoscale) if args.autoscale else None,
            app=app,
            project=project,
            **_options(args),  # type: ignore[arg-type]
        ).validate()
        if not project:  # cheap: refuse newer-Celery options before asking the broker
            preflight.check(spec, current_config().broker_url)
        # a project's check (its own interpreter) runs once, in the operation
    except (SpecError, ProjectError) as exc:
        return fail(str(exc), code=2, secrets=project_secrets(project))
    for warning in spec.warnings():
        print(f"warning: {warning}")
    from pooldesk.backend.projects.brokers import own_broker

    down = _external_broker_down() if own_broker(project) is None else None
    if down:
        return fail(down)
    params: dict[str, Any] = {k: v for k, v in spec.to_dict().items() if k != "name"}
    if not args.queues:  # a project's worker: the queues its tasks route to, from its check
        params.pop("queues", None)
    params.update(wait=bool(args.wait), timeout=args.timeout, stop_if_late=True)
    return _ended(_run(Request("start", spec.name, params)), args.json, "started")


def stop(args: argparse.Namespace) -> int:
    """Warm (or ``--cold``) stop, waited for; ``NAME@HOST`` of another machine: Celery's
    shutdown through the broker."""
    outcome = _run(Request("stop", args.name, {"cold": bool(args.cold), "timeout": args.timeout}))
    if outcome.ok and outcome.data.get("remote"):
        print(f"{args.name}: shutdown sent through the broker")
        return 0
    return _ended(outcome, args.json, "stopped")


def restart(args: argparse.Namespace) -> int:
    """Stop (warm) and start again with what the command line changes; checked first (the
    spec, the project), so a bad change stops nothing."""
    try:
        autoscale = list(parse_autoscale(args.autoscale)) if args.autoscale else None
        queues = list(parse_queues(args.queues)) if args.queues is not None else None
    except SpecError as exc:
        return fail(str(exc), code=2)
    changes: dict[str, Any] = {
        **_options(args),
        "pool": args.pool,
        "concurrency": args.concurrency,
        "queues": queues,
        "autoscale": autoscale,
    }
    params = {k: list(v) if isinstance(v, tuple) else v for k, v in changes.items()}
    params = {k: v for k, v in params.items() if v is not None}
    try:
        request = Request("restart", args.name, {**params, "stop_if_late": True})
    except RequestError as exc:
        return fail(str(exc), code=2)
    return _ended(_run(request), args.json, "restarted")


def resize(args: argparse.Namespace) -> int:
    """Live (``pool_grow``/``pool_shrink``) where the pool allows it, else by a restart."""
    outcome = _run(Request("resize", args.name, {"concurrency": args.concurrency}))
    if not outcome.ok:
        return _failed(outcome)
    method = str(outcome.data.get("method", "restart"))
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
    """The last lines (secrets masked); ``--follow`` then prints new ones as they come."""
    outcome = _run(Request("logs", args.name, {"lines": args.lines}))
    if not outcome.ok:
        return _failed(outcome)
    lines = list(outcome.data.get("lines", []))
    if args.json and not args.follow:
        emit_json({"name": args.name, "lines": lines})
        return 0
    for line in lines:
        _log_line(args, line)
    if args.follow:
        from pooldesk.backend.operations.masking import mask, secrets_for

        manager = _manager()
        record = manager.store.load(args.name)
        project = record.spec.project if record is not None else None
        secrets = secrets_for(project, manager.config.broker_url)
        for line in manager.follow(args.name):
            _log_line(args, mask(line, secrets))
    return 0


def _log_line(args: argparse.Namespace, line: str) -> None:
    """One log line as text, or as one JSON object per line (``--json --follow``)."""
    if args.json:
        print(json.dumps({"name": args.name, "line": line}), flush=True)
    else:
        print(line, flush=True)


def forget(args: argparse.Namespace) -> int:
    outcome = _run(Request("forget", args.name))
    if not outcome.ok:
        return _failed(outcome)
    if args.json:
        emit_json({"name": args.name, "forgotten": True})
    else:
        print(f"{args.name}: removed from the list")
    return 0


def queues(args: argparse.Namespace) -> int:
    """Change the queues a worker consumes, live (local name or NAME@HOST of a remote one)."""
    wanted = parse_queues(args.queues)
    outcome = _run(Request("queues", args.name, {"queues": list(wanted)}))
    if not outcome.ok:
        return _failed(outcome)
    if args.json:
        emit_json({"name": args.name, "queues": list(wanted), "method": "live"})
    else:
        print(f"{args.name}: now consuming {', '.join(wanted)} (changed live)")
    return 0
