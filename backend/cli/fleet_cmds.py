"""``pooldesk fleet key init``, ``pooldesk agent serve`` and ``pooldesk host list``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pooldesk.backend.cli.grammar import Parser, positive_float
from pooldesk.backend.cli.output import emit_json, fail

HOST_FIELDS = (
    "name",
    "online",
    "last_seen",
    "cores",
    "memory_total_bytes",
    "cpu_percent",
    "memory_used_bytes",
    "workers",
    "version",
)


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    fleet = sub.add_parser("fleet", help="the fleet's shared key (commands to other hosts)")
    fsub = fleet.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=Parser)
    key = fsub.add_parser("key", help="the fleet key file")
    ksub = key.add_subparsers(
        dest="key_action", metavar="ACTION", required=True, parser_class=Parser
    )
    init = ksub.add_parser("init", help="create a new random key (mode 0600)")
    init.add_argument("--path", default=None, help="where (default: $POOLDESK_HOME/fleet.key)")
    init.add_argument("--json", action="store_true")
    init.set_defaults(handler=key_init)

    agent = sub.add_parser("agent", help="this host's fleet agent (commands through the broker)")
    asub = agent.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=Parser)
    serve = asub.add_parser("serve", help="announce this host and run the panel's commands")
    serve.add_argument("--host-name", default=None, help="this host's name in the fleet")
    serve.add_argument(
        "--sample-interval", type=positive_float, default=1.0, metavar="S", help="seconds"
    )
    serve.add_argument(
        "--announce-interval",
        type=positive_float,
        default=30.0,
        metavar="S",
        help="seconds between announces (also sent at start and after a reconnect)",
    )
    serve.set_defaults(handler=agent_serve)

    host = sub.add_parser("host", help="the fleet's hosts (agents heard on the broker)")
    hsub = host.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=Parser)
    hlist = hsub.add_parser("list", help="hosts heard within --listen seconds, with CPU and memory")
    hlist.add_argument(
        "--listen", type=positive_float, default=2.0, metavar="S", help="seconds to listen"
    )
    hlist.add_argument("--json", action="store_true")
    hlist.set_defaults(handler=host_list)


def key_init(args: argparse.Namespace) -> int:
    from pooldesk.backend.fleet.key import KEY_ENV, FleetKeyError, default_path, init_key

    path = Path(args.path).expanduser().absolute() if args.path else None
    try:
        written = init_key(path)
    except (FleetKeyError, OSError) as exc:
        return fail(str(exc), code=2)
    if args.json:
        emit_json({"path": str(written), "mode": "0600"})
        return 0
    print(f"fleet key written to {written} (mode 0600)")
    if written != default_path():
        print(f"point the panel and every agent at it: {KEY_ENV}={written}")
    print("copy it to every host of the fleet, keeping mode 0600")
    return 0


def _key(setting: str | None) -> tuple[bytes | None, int | None]:
    from pooldesk.backend.fleet.key import FleetKeyError, load_key

    try:
        return load_key(setting), None
    except FleetKeyError as exc:
        return None, fail(str(exc), code=2)


def agent_serve(args: argparse.Namespace) -> int:
    import logging
    import os
    import signal
    import threading

    from pooldesk.backend.fleet.probe import default_host_name
    from pooldesk.backend.fleet.sign import HOST_RE
    from pooldesk.backend.settings import load

    host = args.host_name or os.environ.get("POOLDESK_FLEET_HOST") or default_host_name()
    if not HOST_RE.match(host):
        return fail(f"host name {host!r}: use 1-64 letters, digits, '_', '.' or '-'", code=2)
    settings = load().settings
    key, code = _key(settings.fleet_key_file)
    if code is not None:
        return code
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    from pooldesk.backend.fleet.agent import Agent
    from pooldesk.backend.fleet.transport import broker_url

    if key is None:
        logging.warning("no fleet key: this agent announces its host but refuses every command")
    os.environ["POOLDESK_FLEET_HOST"] = host  # its workers' --host checks see this name as local
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    manager = _manager(settings)
    rows_manager = _manager(settings)  # its own for the rows the loop reads: ops own `manager`
    relay = _relay(host)
    agent = Agent(
        host,
        key,
        lambda: _operations(manager),
        url=broker_url(),
        window=settings.fleet_window,
        sample_s=args.sample_interval,
        announce_s=args.announce_interval,
        adopt=manager.adopt_orphans,
        feeds=(_roster(host, rows_manager), relay.due, _backlog(host)),
    )
    try:
        agent.run(stop)
    finally:
        relay.close()
        manager.close()
        rows_manager.close()
    logging.info("agent %s stopped (its workers keep running)", host)
    return 0


def _manager(settings: Any) -> Any:
    from pooldesk.backend.broker import ensure_broker
    from pooldesk.backend.workers.manager import WorkerManager

    return WorkerManager.from_settings(settings, config=ensure_broker(settings))


def _roster(host: str, manager: Any) -> Any:
    from pooldesk.backend.fleet.roster import Roster, local_rows

    return Roster(host, lambda: local_rows(manager)).due


def _relay(host: str) -> Any:
    """Its projects' own brokers, heard and relayed (the panel may not reach them)."""
    from pooldesk.backend.fleet.relay import EventRelay
    from pooldesk.backend.fleet.transport import broker_url
    from pooldesk.backend.projects.brokers import brokers_in_use

    return EventRelay(host, broker_url(), brokers_in_use)


def _backlog(host: str) -> Any:
    """Its projects' own brokers' backlog, sampled for the panel (which may not reach them)."""
    from pooldesk.backend.fleet.backlog import BacklogSampler
    from pooldesk.backend.fleet.transport import broker_url
    from pooldesk.backend.projects.brokers import project_brokers

    return BacklogSampler(host, broker_url(), project_brokers).due


def _operations(manager: Any) -> Any:
    from pooldesk.backend.operations import Operations

    return Operations(manager)


def host_list(args: argparse.Namespace) -> int:
    """Listen ``--listen`` seconds; hosts heard before (``$POOLDESK_HOME/fleet/hosts.json``:
    names, last sighting, cores, memory, version) are listed offline until heard again."""
    from pooldesk.backend import paths
    from pooldesk.backend.fleet.roster import FleetRegistry
    from pooldesk.backend.fleet.watch import HostWatcher
    from pooldesk.backend.fsutil import read_json, write_json_atomic

    memory = paths.root_path() / "fleet" / "hosts.json"
    try:
        watcher = HostWatcher(FleetRegistry())
    except ConnectionError as exc:
        return fail(str(exc))
    watcher.registry.remember(read_json(memory))
    try:
        watcher.poll(args.listen)
        if not watcher.link.connections:
            return fail("the broker cannot be reached: no host heard")
        rows = watcher.registry.rows()
        backlog = watcher.registry.backlogs.entries()  # type: ignore[attr-defined]
    finally:
        watcher.close()
    if rows:
        write_json_atomic(paths.subdir("fleet") / "hosts.json", watcher.registry.memory())
    if args.json:
        emit_json(
            [
                {
                    **{k: row[k] for k in HOST_FIELDS},
                    "backlog": [
                        {k: v for k, v in e.items() if k not in ("host", "at")}
                        for e in backlog
                        if e["host"] == row["name"]
                    ],
                }
                for row in rows
            ]
        )
        return 0
    if not rows:
        print(f"no host heard in {args.listen:g} s (start one: pooldesk agent serve)")
        return 0
    from pooldesk.backend.cli.output import human_bytes, table

    body = [
        [
            row["name"],
            "online" if row["online"] else "offline",
            str(row["cores"] or "-"),
            f"{row['cpu_percent']:.0f} %" if row["cpu_percent"] is not None else "-",
            f"{human_bytes(row['memory_used_bytes'])} / {human_bytes(row['memory_total_bytes'])}",
            str(row["workers"] if row["workers"] is not None else "-"),
            str(row["version"] or "-"),
        ]
        for row in rows
    ]
    print(table(["NAME", "STATE", "CORES", "CPU", "MEMORY", "WORKERS", "VERSION"], body))
    return 0
