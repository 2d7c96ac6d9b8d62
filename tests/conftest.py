"""Shared fixtures: every test gets its own ``$POOLDESK_HOME`` and cleans up what it started.

Integration tests use real things: a real redis-server started by Pooldesk's managed broker, real
Celery worker processes. The ``home`` fixture's teardown kills every worker process group and the
broker recorded under that home, so a failing test never leaves processes behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

# Homes and workers of the live tests (``_kill_home`` and ``POOLDESK_ENV`` by their old names).
from tests.liveworkers import POOLDESK_ENV
from tests.liveworkers import kill_home as _kill_home

# A user's own Celery project in its own virtualenv and Redis, built once per session.
from tests.projects_sample import sample_dir, sample_python, sample_redis  # noqa: F401

# A live task history (broker, worker, recorder), one per module that asks for it.
from tests.taskhistory_live import live  # noqa: F401

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("POOLDESK_CLOSE_ANSWER", "leave")  # nobody answers the close question


@pytest.fixture(autouse=True)
def _no_dangling_qthreads(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a Qt test that leaves a QThread running (napari's ``_dangling_qthreads``).

    Only for the desktop tests (tests/desktop, or a ``test_desktop_*`` module not yet moved
    there): the unit and integration tiers must run where PySide6 is absent.
    """
    module = request.module.__name__
    if not (
        module.startswith("tests.desktop.") or module.rsplit(".", 1)[-1].startswith("test_desktop")
    ):
        yield
        return
    from weakref import WeakSet

    from PySide6.QtCore import QThread

    started: WeakSet[QThread] = WeakSet()
    original = QThread.start

    def start(self: QThread, *args: object) -> None:
        started.add(self)
        original(self, *args)

    QThread.start = start  # type: ignore[method-assign]
    try:
        yield
    finally:
        QThread.start = original  # type: ignore[method-assign]
    running = [t.objectName() or repr(t) for t in started if t.isRunning()]
    assert not running, f"QThreads still running after the test: {running}"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty Pooldesk home; everything started under it is stopped afterwards."""
    root = tmp_path / "home"
    for var in POOLDESK_ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("POOLDESK_HOME", str(root))
    yield root
    _kill_home(root)


@pytest.fixture
def broker(home: Path):  # type: ignore[no-untyped-def]
    """The managed broker of this test's home, started."""
    from pooldesk.backend.broker import ensure_broker

    return ensure_broker()


@pytest.fixture
def manager(broker):  # type: ignore[no-untyped-def]
    from pooldesk.backend.workers.manager import WorkerManager

    mgr = WorkerManager(config=broker, stop_timeout=20)
    yield mgr
    for info in mgr.all(include_remote=False):
        if info.state in ("starting", "online", "stopping"):
            with contextlib.suppress(Exception):
                mgr.stop(info.name, timeout=10)
    mgr.close()


PG_URL = os.environ.get("POOLDESK_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_admin():  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    url = make_url(PG_URL).set(database="postgres")
    return create_engine(
        url, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 1}
    )


@pytest.fixture(scope="session")
def pg_available() -> bool:
    from sqlalchemy import text

    try:
        with _pg_admin().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


@pytest.fixture
def pg_url(pg_available: bool) -> Iterator[str]:
    """A throwaway PostgreSQL database ``pooldesk_test_<random>``, dropped afterwards."""
    import uuid

    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from pooldesk.backend.invoices import db

    if not pg_available:
        pytest.skip(f"PostgreSQL not reachable at {make_url(PG_URL).render_as_string()}")
    name = f"pooldesk_test_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        db.dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# -- a test skipped on CI for a missing program is a defect -------------------------------------
# .ci/run installs every program a test needs (zsh, fish, prometheus) and sets POOLDESK_CI=1;
# there, a test that would skip because a program is missing fails instead, saying which. On a
# developer's machine it still skips. Mark such tests ``@pytest.mark.program("zsh")``; a skip
# worded like one (``not installed``, ``no … binary``) is caught too, however it was written.
_MISSING_PROGRAM = re.compile(r"not installed|no \S+ binary|apt(-get)? install", re.I)


def on_ci() -> bool:
    return os.environ.get("POOLDESK_CI", "") not in ("", "0")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("program"):
        name = str(mark.args[0])
        if shutil.which(name) is None:
            if on_ci():
                pytest.fail(f"{name} is not installed; on CI .ci/run installs it (no skips)")
            pytest.skip(f"{name} not installed")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if not (on_ci() and report.skipped and isinstance(report.longrepr, tuple)):
        return
    reason = str(report.longrepr[2])
    if _MISSING_PROGRAM.search(reason):
        report.outcome = "failed"
        report.longrepr = f"skipped on CI for a missing program ({reason}): .ci/run must install it"
