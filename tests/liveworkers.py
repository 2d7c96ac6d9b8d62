"""Homes and workers for the live tests, in one place.

Starting a worker and waiting until it answers ping is the slow part of a live test. Modules whose
tests only read what a worker did (fit, forecast, task history) share one per module; those are
module-scoped fixtures, which cannot use the function-scoped ``home``/``monkeypatch`` fixtures of
tests/conftest.py, so :func:`own_home` does the same by hand and :func:`running_workers` starts the
workers under it. Tests that change their worker (kill it, break its broker) start their own with
:func:`start_online` (library) or :func:`cli_worker` (the command a user types).

Kept apart from tests/conftest.py (which re-exports ``POOLDESK_ENV`` and ``_kill_home``) so that
helper modules imported by conftest can use it without an import cycle.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pooldesk.backend.broker.resolve import BrokerConfig
    from pooldesk.backend.workers.info import WorkerInfo
    from pooldesk.backend.workers.manager import WorkerManager
    from pooldesk.backend.workers.spec import WorkerSpec

POOLDESK_ENV = (
    "POOLDESK_HOME",
    "POOLDESK_BROKER_URL",
    "POOLDESK_RESULT_BACKEND",
    "POOLDESK_INVOICE_DB",
    "POOLDESK_REDIS_SERVER",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
)


def kill_home(path: Path) -> None:
    """SIGKILL every worker and recorder process group recorded under ``path``; stop its broker."""
    from pooldesk.backend.fsutil import read_json

    for record in (path / "workers").glob("*.json"):
        data = read_json(record)
        if not isinstance(data, dict):
            continue
        for key in ("supervisor_pid",):
            pid = data.get(key)
            # Never pid 1 or a non-int (a test's deliberately bad record): killpg(1) as root
            # takes down the machine's services.
            if isinstance(pid, int) and not isinstance(pid, bool) and pid > 1:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
    for record in (path / "taskhistory").glob("*.json"):  # task-history recorders
        data = read_json(record)
        pid = data.get("supervisor_pid") if isinstance(data, dict) else None
        if isinstance(pid, int) and not isinstance(pid, bool) and pid > 1:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
    broker = read_json(path / "broker" / "broker.json")
    if isinstance(broker, dict) and broker.get("pid"):
        from pooldesk.backend.broker.managed import ManagedBroker

        ManagedBroker(path / "broker").stop(timeout=5)


@contextlib.contextmanager
def own_home(root: Path) -> Iterator[Path]:
    """``$POOLDESK_HOME`` = ``root`` (and no inherited broker or database setting) for a
    module-scoped fixture; everything started under it is killed afterwards."""
    with pytest.MonkeyPatch.context() as mp:
        for var in POOLDESK_ENV:
            mp.delenv(var, raising=False)
        mp.setenv("POOLDESK_HOME", str(root))
        try:
            yield root
        finally:
            kill_home(root)


def start_online(manager: WorkerManager, spec: WorkerSpec, timeout: float = 90.0) -> WorkerInfo:
    """Start ``spec`` and wait until it answers ping (a generous ``timeout``: it is only the
    limit, a worker online in 2 s returns in 2 s, and the machine is shared)."""
    info = manager.start(spec, wait=True, timeout=timeout)
    assert info.state == "online", info
    return info


@dataclass
class Running:
    home: Path
    config: BrokerConfig
    manager: WorkerManager


@contextlib.contextmanager
def running_workers(
    root: Path, *specs: WorkerSpec, start_timeout: float = 90.0, stop_timeout: float = 10.0
) -> Iterator[Running]:
    """A home of its own at ``root``, its managed broker, and ``specs`` each started and online
    before the body runs; every worker stopped (then the home's processes killed) afterwards,
    whatever happened."""
    from pooldesk.backend.broker import ensure_broker
    from pooldesk.backend.workers.manager import WorkerManager

    with own_home(root):
        config = ensure_broker()
        assert config.broker_url
        manager = WorkerManager(
            config=config, start_timeout=start_timeout, stop_timeout=stop_timeout
        )
        try:
            for spec in specs:
                start_online(manager, spec, timeout=start_timeout)
            yield Running(root, config, manager)
        finally:
            for name in manager.store.names():
                with contextlib.suppress(Exception):
                    manager.stop(name, timeout=stop_timeout)
            manager.close()


@contextlib.contextmanager
def cli_worker(
    capsys: pytest.CaptureFixture[str], name: str, *options: str
) -> Iterator[dict[str, Any]]:
    """``pooldesk worker start NAME OPTIONS --wait --json`` in this process, online before the
    body (its JSON is yielded); ``pooldesk worker stop NAME --cold`` after it. The command's
    output is read off ``capsys``, so the test's next read sees only its own."""
    from pooldesk.backend.cli import main

    code = main(["worker", "start", name, *options, "--wait", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    try:
        yield json.loads(out)
    finally:
        code = main(["worker", "stop", name, "--cold", "--json"])
        _, err = capsys.readouterr()
        assert code == 0, err
