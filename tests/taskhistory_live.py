"""One live task-history setup per test module: a real broker, a real prefork worker running
``tests.taskapp``, the recorder its start brings up, and a client that sends tasks. Shared by the
integration tests (tests/integration/test_taskhistory_live.py) and the Tasks page's live test
(tests/desktop/test_desktop_taskhistory_live.py); tests/conftest.py offers the ``live`` fixture."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from pooldesk.backend.broker.resolve import BrokerConfig
from pooldesk.backend.celery_app import make_app
from pooldesk.backend.taskhistory import service
from pooldesk.backend.taskhistory.query import TaskQuery, TaskRow
from pooldesk.backend.workers.spec import WorkerSpec
from tests.liveworkers import running_workers


@dataclass
class Live:
    home: Path
    config: BrokerConfig
    client: Celery
    key: str

    def row(self, task_id: str) -> TaskRow | None:
        query = TaskQuery()
        try:
            rows = query.get(task_id)
        finally:
            query.close()
        return rows[0] if rows and rows[0].id == task_id else None

    def send(self, name: str, *args: Any, queue: str = "default", **kwargs: Any) -> str:
        return str(self.client.send_task(name, args=args, kwargs=kwargs, queue=queue).id)


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def final(live: Live, task_id: str, state: str | None = None, timeout: float = 60.0) -> TaskRow:
    def ended() -> TaskRow | None:
        row = live.row(task_id)
        return row if row is not None and (row["state"] == state if state else False) else None

    return wait_for(ended, f"task {task_id} to be recorded as {state}", timeout)  # type: ignore[no-any-return]


def _recording(key: str) -> bool:
    log = service.directory() / f"{key}.log"
    return log.exists() and "recording task events" in log.read_text(errors="replace")


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    import tempfile

    spec = WorkerSpec("th", "prefork", 2, ("default", "other"), app="tests.taskapp:app")
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_workers(Path(tmp) / "home", spec, stop_timeout=10) as run,
    ):
        assert run.config.broker_url
        key = service.broker_key(run.config.broker_url)
        wait_for(lambda: _recording(key), "the recorder the worker start brought up")
        client = make_app(run.config.broker_url, run.config.result_backend, include=[])
        try:
            yield Live(run.home, run.config, client, key)
        finally:
            client.close()
