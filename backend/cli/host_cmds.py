"""Worker and project commands sent to another host's agent (``--host H``).

The command becomes one request of the operations API (``worker``) or a project op, signed and
sent through the broker; the CLI waits for the final reply (pending replies print nothing but
keep the wait alive) and prints it in the same shape as the local command: the same ``--json``
objects (plus ``host``), the same exit codes (2 bad input, 1 a failure).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pooldesk.backend.cli.output import emit_json, fail
from pooldesk.backend.cli.worker_cmds import JSON_FIELDS
from pooldesk.backend.fleet.panel_projects import keep_check, mirror, unmirror

REPLY_TIMEOUT_S = 15.0  # for the host's first reply (its agent answers "accepted" at once)


def run(group: str, action: str, args: argparse.Namespace) -> int:
    from pooldesk.backend.fleet.client import FleetClient, silence
    from pooldesk.backend.fleet.key import NO_KEY, FleetKeyError, load_key
    from pooldesk.backend.settings import load

    host = args.host
    try:
        op, params = _project(action, args) if group == "project" else _worker(action, args)
    except ValueError as exc:
        return fail(str(exc), code=2)
    settings = load().settings
    try:
        key = load_key(settings.fleet_key_file)
    except FleetKeyError as exc:
        return fail(str(exc), code=2)
    if key is None:  # nothing is sent (and no broker started) without a key
        return fail(NO_KEY, code=2)
    client = FleetClient(key, window=settings.fleet_window)
    try:
        rid = client.send(host, op, params)
        result = client.wait(rid, REPLY_TIMEOUT_S)
    except FleetKeyError as exc:
        return fail(str(exc), code=2)
    except (ConnectionError, ValueError) as exc:
        return fail(str(exc))
    finally:
        client.close()
    if result is None:
        return fail(silence(host, REPLY_TIMEOUT_S))
    return _print(group, action, args, result)


def _worker(action: str, args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    if action == "logs" and args.follow:
        raise ValueError("--follow reads a local log: on another host, ask for --lines instead")
    params: dict[str, Any] = {}
    if action in ("start", "restart"):
        params = _spec_params(action, args)
    elif action == "stop":
        params = {"cold": bool(args.cold), "timeout": args.timeout}
    elif action == "resize":
        params = {"concurrency": args.concurrency}
    elif action == "logs":
        params = {"lines": args.lines}
    return "worker", {"op": action, "name": args.name, "params": params}


def _spec_params(action: str, args: argparse.Namespace) -> dict[str, Any]:
    from pooldesk.backend.workers.spec import parse_autoscale, parse_queues

    given: dict[str, Any] = {
        "pool": args.pool,
        "concurrency": args.concurrency,
        "queues": list(parse_queues(args.queues)) if args.queues else None,
        "autoscale": list(parse_autoscale(args.autoscale)) if args.autoscale else None,
        "loglevel": args.loglevel,
        "max_tasks_per_child": args.max_tasks_per_child,
        "max_memory_per_child": args.max_memory_per_child,
        "time_limit": args.time_limit,
        "soft_time_limit": args.soft_time_limit,
        "extra_args": list(args.extra) if args.extra else None,
        "soft_shutdown_timeout": args.soft_shutdown_timeout,
        "soft_shutdown_on_idle": args.soft_shutdown_on_idle,
        "disable_prefetch": args.disable_prefetch,
        "eta_task_limit": args.eta_task_limit,
    }
    if action == "start":
        if args.app:
            raise ValueError("--app with --host: register a project on that host (project add)")
        given["project"] = args.project
        given["wait"] = bool(args.wait)
        given["timeout"] = args.timeout
    return {k: v for k, v in given.items() if v is not None}


def _project(action: str, args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    from pooldesk.backend.fleet.panel_projects import add_params, env_refusal

    if action != "add":
        return f"project_{action}", {"name": args.name}
    if args.env:
        raise ValueError(env_refusal())
    return "project_add", add_params(
        args.host,
        args.name,
        args.python,
        args.workdir,
        args.app,
        env_file=args.env_file,
        managed_broker=bool(args.use_managed_broker),
        venv=args.venv,
    )


def _print(group: str, action: str, args: argparse.Namespace, result: dict[str, Any]) -> int:
    data = result.get("data") or {}
    host = str(result.get("host", args.host))
    if group == "project" and action == "check" and isinstance(data.get("check"), dict):
        keep_check(args.name, host, data["check"])  # a failed import is a check result too
    if not result.get("ok"):
        code = 2 if data.get("reason") == "invalid" else 1
        return fail(f"host {host}: {result.get('text', 'failed')}", code=code)
    if group == "project":
        return _print_project(action, args, data, host, result)
    if getattr(args, "json", False):
        emit_json(_json(action, args, data, host))
    else:
        print(_text(action, args, data, result))
    return 0


def _text(
    action: str, args: argparse.Namespace, data: dict[str, Any], result: dict[str, Any]
) -> str:
    """The local command's line (``worker_cmds``), so scripts reading text see one shape."""
    if action == "logs":
        return "\n".join(str(x) for x in data.get("lines") or [])
    if action == "resize":
        live = data.get("method", "restart") == "live"
        how = "live (pool_grow/pool_shrink)" if live else "by restarting the worker"
        return f"{args.name}: concurrency {args.concurrency}, changed {how}"
    if action == "forget":
        return f"{args.name}: removed from the list"
    worker = data.get("worker") or {}
    if not worker:
        return str(result.get("text", ""))
    line = f"{worker.get('name', args.name)}: {worker.get('state')}"
    if worker.get("pid"):
        line += f" (pid {worker['pid']}, {worker.get('pool')} × {worker.get('concurrency')})"
    if worker.get("ready_seconds") is not None and action in ("start", "restart"):
        line += f", ready in {worker['ready_seconds']:.1f} s"
    return line


def _json(action: str, args: argparse.Namespace, data: dict[str, Any], host: str) -> Any:
    if action == "logs":
        return {"name": args.name, "lines": [str(x) for x in data.get("lines") or []], "host": host}
    if action == "resize":
        method = data.get("method", "restart")
        return {"name": args.name, "concurrency": args.concurrency, "method": method, "host": host}
    if action == "forget":
        return {"name": args.name, "forgotten": True, "host": host}
    worker = data.get("worker") or {}
    return {**{k: worker.get(k) for k in JSON_FIELDS}, "host": host}


def _print_project(
    action: str, args: argparse.Namespace, data: dict[str, Any], host: str, result: dict[str, Any]
) -> int:
    if action == "add":
        warning = mirror(data, host)
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
    if action == "remove":
        unmirror(args.name, host)
    if getattr(args, "json", False):
        if action == "add":
            emit_json({**(data.get("project") or {}), "host": host, "check": data.get("check")})
        else:
            emit_json({**(data.get("check") or {}), "host": host})
        return 0
    print(result.get("text", ""))
    if data.get("check"):
        from pooldesk.backend.cli.project_cmds import _print_check

        _print_check(data["check"], bool((data.get("project") or {}).get("managed_broker")))
    return 0
