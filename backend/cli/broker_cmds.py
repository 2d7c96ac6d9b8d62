"""``pooldesk broker start|stop|status``."""

from __future__ import annotations

import argparse

from pooldesk.backend.broker import BrokerError, current_config
from pooldesk.backend.broker.managed import ManagedBroker
from pooldesk.backend.broker.status import BrokerStatus, broker_status
from pooldesk.backend.cli.output import emit_json, fail, human_bytes


def _print(status: BrokerStatus, as_json: bool) -> None:
    if as_json:
        emit_json(status.to_dict())
        return
    kind = "managed" if status.managed else "external"
    print(f"broker   {status.url or '-'} ({kind})")
    print(
        f"state    {'up' if status.up else 'down'}" + (f", pid {status.pid}" if status.pid else "")
    )
    if status.up:
        print(f"version  {status.version or '-'}")
        print(f"memory   {human_bytes(status.memory_bytes)}")
        for queue, length in status.queues.items():
            print(f"queue    {queue}: {length} waiting")


def start(args: argparse.Namespace) -> int:
    config = current_config()
    if not config.managed:
        status = broker_status(config)
        if not status.up:
            return fail(status.error or "broker unreachable")
        if not args.json:
            print("an external broker is configured (POOLDESK_BROKER_URL): nothing to start")
        _print(status, args.json)
        return 0
    broker = ManagedBroker()
    before = broker.current()
    try:
        state = broker.start(new_port=bool(getattr(args, "new_port", False)))
    except BrokerError as exc:
        return fail(str(exc))
    if before is not None and before.port != state.port and not args.json:
        print(
            f"moved from port {before.port} to {state.port}: workers started before keep the "
            "old address; restart them (pooldesk worker restart NAME)"
        )
    _print(broker_status(current_config()), args.json)
    return 0


def stop(args: argparse.Namespace) -> int:
    config = current_config()
    if not config.managed:
        return fail("an external broker is configured: Pooldesk does not stop it")
    was_running = ManagedBroker().stop()
    if args.json:
        emit_json({"stopped": was_running})
    else:
        print("managed broker stopped" if was_running else "managed broker was not running")
    return 0


def status(args: argparse.Namespace) -> int:
    result = broker_status(current_config())
    if not result.up:
        if args.json:
            emit_json(result.to_dict())
        return fail(result.error or "broker unreachable")
    _print(result, args.json)
    return 0
