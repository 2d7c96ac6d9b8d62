"""A realistic live scene for benchmarks and screenshots, in a throwaway ``POOLDESK_HOME``.

The GUI benchmark (``bench/gui_responsiveness.py``) and the screenshots
(``python -m pooldesk.desktop.screenshots``) must show the window doing real work, not mocked data:
a managed redis-server, real Celery workers of every pool, a seeded invoice database and a real
6,000-invoice batch running (optionally a monitoring batch against a loopback HTTP server, so no
internet is needed). This module builds exactly that and tears all of it down again.

Isolation: a temporary directory becomes ``$POOLDESK_HOME`` and every variable that could point
Pooldesk or Celery elsewhere (``POOLDESK_BROKER_URL``, ``POOLDESK_RESULT_BACKEND``,
``POOLDESK_INVOICE_DB``, ``CELERY_*``…) is removed from ``os.environ`` for the duration, so the
embedded managed broker is used and nothing touches the user's own data. Child processes (the
workers, a window started by the caller) inherit that environment.

Cleanup (:meth:`Scene.close`, run by ``with Scene(...)`` even on Ctrl-C, SIGTERM or an
exception): every worker's process group is killed (supervisor, Celery main, pool children —
SIGTERM, then SIGKILL), the HTTP server process is stopped, the broker is stopped, the environment
is restored and the directory deleted. A scene is disposable, so the stop is cold on purpose: a
warm stop would wait for running invoice chunks.

It is a UI-side helper (it lives in ``desktop/`` next to its two users) but imports only
``backend``, never Qt, so it can build a scene for any process.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import psutil

from pooldesk.backend.batches.history import BatchRecord
from pooldesk.backend.batches.params import InvoiceParams, MonitorParams
from pooldesk.backend.batches.service import BatchService
from pooldesk.backend.broker.managed import ManagedBroker
from pooldesk.backend.broker.resolve import BrokerConfig, ensure_broker
from pooldesk.backend.invoices import db
from pooldesk.backend.invoices.billing import recent_periods
from pooldesk.backend.invoices.seed import seed
from pooldesk.backend.settings import load as load_settings
from pooldesk.backend.workers.manager import WorkerInfo, WorkerManager
from pooldesk.backend.workers.records import RecordStore
from pooldesk.backend.workers.spec import WorkerSpec

# Variables that would send Pooldesk or its workers to someone else's broker, backend or data.
ISOLATE = (
    "POOLDESK_BROKER_URL",
    "POOLDESK_RESULT_BACKEND",
    "POOLDESK_INVOICE_DB",
    "POOLDESK_VISIBILITY_TIMEOUT",
)
ISOLATE_PREFIXES = ("CELERY_",)
READY_TIMEOUT_S = 120.0  # eight Celery workers importing at once on a 2-core machine are slow
KILL_GRACE_S = 3.0


def worker_plan(count: int = 8) -> list[WorkerSpec]:
    """The workers of a scene, most telling first; ``count`` takes the first N (1-8).

    Eight workers as an ops team would really run them on this machine: four prefork × 1 on the
    CPU-bound ``invoices`` queue, one *gevent × 20 on invoices too* (the classic trap: its
    chunks run one after another, and the advisor measures it and warns), gevent × 200 for the
    I/O-bound ``monitoring`` URL checks, one prefork × 1 for the ``orchestration`` parents and
    watchers, and a threads × 10 worker on ``default``. Each prefork worker has one process so
    none of them is oversubscribed on its own (the advisor would rightly flag prefork × 4 on 2
    cores); together they still offer more processes than cores, as shared hosts do.
    """
    plan = [
        WorkerSpec("invoices-1", "prefork", 1, ("invoices",)),
        WorkerSpec("invoices-gevent", "gevent", 20, ("invoices",)),
        WorkerSpec("orchestration-1", "prefork", 1, ("orchestration",)),
        WorkerSpec("monitoring-1", "gevent", 200, ("monitoring",)),
        WorkerSpec("invoices-2", "prefork", 1, ("invoices",)),
        WorkerSpec("invoices-3", "prefork", 1, ("invoices",)),
        WorkerSpec("invoices-4", "prefork", 1, ("invoices",)),
        WorkerSpec("default-1", "threads", 10, ("default",)),
    ]
    if not 1 <= count <= len(plan):
        raise ValueError(f"a scene has 1 to {len(plan)} workers, not {count}")
    return plan[:count]


@dataclass
class SceneTimings:
    """How long each step of :meth:`Scene.start` took, for the callers' reports."""

    broker_s: float = 0.0
    seed_s: float = 0.0
    workers_s: float = 0.0


class Scene:
    """A managed broker, real workers and seeded invoice data in a temporary home.

    Use as a context manager; :meth:`launch_invoices` / :meth:`launch_monitoring` start real
    batches and :meth:`batch` reads one back from the result backend, as the window does.
    """

    def __init__(
        self,
        workers: int = 8,
        customers: int = 6_000,
        periods: int = 1,
        url_delay_ms: int = 200,
        keep: bool = False,
        log: Any = None,
    ) -> None:
        self.plan = worker_plan(workers)
        self.customers = customers
        self.periods = recent_periods(periods)  # oldest first; batches bill the newest first
        self.url_delay_ms = url_delay_ms
        self.keep = keep  # leave the directory behind (for a post-mortem); processes still stop
        self.timings = SceneTimings()
        self._log = log or (lambda text: print(text, file=sys.stderr, flush=True))
        self.root: Path | None = None
        self.home: Path | None = None
        self.config: BrokerConfig | None = None
        self.manager: WorkerManager | None = None
        self.batches: BatchService | None = None
        self._saved_env: dict[str, str | None] = {}
        self._http: subprocess.Popen[bytes] | None = None
        self._http_url: str | None = None
        self._saved_sigterm: Any = None
        self._unbilled = list(reversed(self.periods))

    # -- context manager ---------------------------------------------------------------------
    def __enter__(self) -> Scene:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- building ----------------------------------------------------------------------------
    def start(self) -> None:
        """Home, broker, data, workers (all online). Raises if a worker does not come up."""
        self._trap_sigterm()
        self.root = Path(tempfile.mkdtemp(prefix="pooldesk-scene-"))
        self.home = self.root / "home"
        self._isolate_env(self.home)

        began = time.monotonic()
        self.config = ensure_broker()
        self.timings.broker_s = time.monotonic() - began
        self._log(f"scene: managed broker up ({self.config.masked_url})")

        # Workers import Celery for seconds; seed meanwhile instead of after.
        began = time.monotonic()
        self.manager = WorkerManager.from_settings(load_settings().settings, self.config)
        for spec in self.plan:
            self.manager.start(spec, wait=False)
        seed_began = time.monotonic()
        result = seed(db.make_engine(), self.customers, periods=list(self.periods))
        self.timings.seed_s = time.monotonic() - seed_began
        self._log(
            f"scene: {result.customers_total:,} demo customers, usage for "
            f"{', '.join(result.periods)} ({self.timings.seed_s:.1f} s)"
        )
        infos = self._wait_online(READY_TIMEOUT_S)
        self.timings.workers_s = time.monotonic() - began
        shapes = ", ".join(f"{w.name} {w.pool}×{w.concurrency}" for w in infos)
        self._log(f"scene: {len(infos)} workers online in {self.timings.workers_s:.1f} s: {shapes}")
        self.batches = BatchService(self.config)

    def _isolate_env(self, home: Path) -> None:
        names = [*ISOLATE, "POOLDESK_HOME"] + [
            n for n in os.environ if n.startswith(ISOLATE_PREFIXES)
        ]
        for name in names:
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ.pop(name, None)
        os.environ["POOLDESK_HOME"] = str(home)

    def _restore_env(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()

    def _trap_sigterm(self) -> None:
        """SIGTERM (``kill``, a CI timeout) unwinds like Ctrl-C, so ``close`` still runs."""

        def raise_exit(signum: int, frame: FrameType | None) -> None:
            raise SystemExit(128 + signum)

        with contextlib.suppress(ValueError):  # not the main thread: the caller's business
            self._saved_sigterm = signal.signal(signal.SIGTERM, raise_exit)

    def _wait_online(self, timeout: float) -> list[WorkerInfo]:
        assert self.manager is not None
        deadline = time.monotonic() + timeout
        infos: list[WorkerInfo] = []
        while time.monotonic() < deadline:
            infos = [self.manager.info(spec.name) for spec in self.plan]
            bad = [i for i in infos if i.state in ("crashed", "stopped")]
            if bad:
                detail = "; ".join(
                    f"{i.name} {i.state} ({i.exit}): {(i.last_log or ['no log'])[-1]}" for i in bad
                )
                raise RuntimeError(f"scene: worker did not start: {detail}")
            if all(i.state == "online" for i in infos):
                return infos
            time.sleep(0.5)
        late = [i.name for i in infos if i.state != "online"]
        raise RuntimeError(f"scene: workers not online after {timeout:.0f} s: {', '.join(late)}")

    # -- batches -----------------------------------------------------------------------------
    def launch_invoices(self, chunk_size: int = 500, period: str | None = None) -> BatchRecord:
        """A real invoice batch: all seeded customers for a period not billed yet (newest
        first), in chunks of ``chunk_size`` (6,000 / 500 = 12 chunks)."""
        if self.batches is None:
            raise RuntimeError("the scene is not started")
        if period is None:
            if not self._unbilled:
                raise RuntimeError("every seeded period is billed; use Scene(periods=N)")
            period = self._unbilled.pop(0)
        params = InvoiceParams(period=period, customers=None, chunk_size=chunk_size)
        record = self.batches.launch_invoices(params)
        self._log(f"scene: invoice batch {record.id[:8]} launched ({period}, {chunk_size}/chunk)")
        return record

    def launch_monitoring(self, urls: int = 1_000, timeout: float = 5.0) -> BatchRecord:
        """A monitoring batch of ``urls`` checks against a loopback server this scene runs in
        its own process (the window's process must not host 200 request threads): most URLs
        answer after ``url_delay_ms``, a few with errors, so the batch has failures to show."""
        if self.batches is None:
            raise RuntimeError("the scene is not started")
        base = self._http_server()
        routes = []
        for i in range(urls):
            if i % 97 == 96:
                routes.append(f"{base}/status/503?n={i}")  # a site that is down
            elif i % 89 == 88:
                routes.append(f"{base}/status/404?n={i}")
            else:
                routes.append(f"{base}/slow?ms={self.url_delay_ms}&n={i}")
        record = self.batches.launch_monitoring(MonitorParams(urls=tuple(routes), timeout=timeout))
        self._log(f"scene: monitoring batch {record.id[:8]} launched ({urls:,} URLs)")
        return record

    def batch(self, batch_id: str) -> BatchRecord:
        """The batch as the result backend has it now (counts of its children)."""
        if self.batches is None:
            raise RuntimeError("the scene is not started")
        return self.batches.get(batch_id)

    def _http_server(self) -> str:
        if self._http_url is not None:
            return self._http_url
        assert self.root is not None
        self._http = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pooldesk.backend.monitoring.testserver",
                "--port",
                "0",
                "--delay-ms",
                str(self.url_delay_ms),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=str(Path(__file__).resolve().parent.parent),
            start_new_session=True,  # Ctrl-C in the terminal reaches us, and we stop it
        )
        assert self._http.stdout is not None
        line = self._http.stdout.readline().decode().strip()  # "serving on http://…"
        if not line.startswith("serving on "):
            raise RuntimeError(f"scene: the loopback HTTP server did not start: {line!r}")
        self._http_url = line.removeprefix("serving on ").strip()
        return self._http_url

    # -- teardown ----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop everything this scene started; safe to call twice and after a failed start."""
        if self.batches is not None:
            with contextlib.suppress(Exception):
                self.batches.close()
            self.batches = None
        if self.home is not None:
            self._kill_workers(self.home)
            _stop_recorders()
        if self.manager is not None:
            with contextlib.suppress(Exception):
                self.manager.close()
            self.manager = None
        if self._http is not None:
            _stop_process(self._http)
            self._http = None
        if self.home is not None and (self.home / "broker").exists():
            with contextlib.suppress(Exception):
                ManagedBroker(self.home / "broker").stop(timeout=10)
        with contextlib.suppress(Exception):
            db.dispose_engines()
        self._restore_env()
        if self._saved_sigterm is not None:
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGTERM, self._saved_sigterm)
            self._saved_sigterm = None
        if self.root is not None:
            if self.keep:
                self._log(f"scene: kept {self.root}")
            else:
                shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
        self.home = None

    def _kill_workers(self, home: Path) -> None:
        """SIGTERM, then SIGKILL, to every worker's process group (supervisor, Celery, pool).

        Process groups come from the records on disk, so workers started by someone else under
        this home (the window's Start button) go too."""
        store = RecordStore(home / "workers")
        groups: list[int] = []
        for name in store.names():
            record = store.load(name)
            if record is not None and record.supervisor_pid:
                groups.append(record.supervisor_pid)
        members: list[psutil.Process] = []
        for process in psutil.process_iter():
            with contextlib.suppress(psutil.Error, ProcessLookupError):
                if os.getpgid(process.pid) in groups:
                    members.append(process)
        for pgid in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGTERM)
        _, alive = psutil.wait_procs(members, timeout=KILL_GRACE_S)
        for pgid in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=KILL_GRACE_S)


def _stop_recorders() -> None:
    """The task-history recorders this scene's workers (or window) brought up."""
    from pooldesk.backend.taskhistory import service

    for recorder in service.recorders():
        with contextlib.suppress(Exception):
            service.stop_recorder(recorder.key, timeout=5)


def _stop_process(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)
    if child.stdout is not None:
        child.stdout.close()
