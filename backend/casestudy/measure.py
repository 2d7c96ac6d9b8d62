"""The instruments of the case study: a memory-peak sampler, the test server, child end times.

Why these and not the obvious ones (see FACTS.md): summed task runtimes and overlapping
[started, succeeded] intervals overstate parallelism under gevent, so parallelism is CPU seconds
of the worker's process tree over wall time; summed RSS counts a prefork parent's shared pages
once per child, so memory is USS (what :class:`TreeSampler` reports as ``memory_bytes``).
"""

from __future__ import annotations

import selectors
import subprocess
import sys
import threading
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from celery import Celery

from pooldesk.backend.workers.resources import TreeSampler

SAMPLE_INTERVAL_S = 0.2
SERVER_READY_TIMEOUT_S = 15.0
SERVER_STOP_TIMEOUT_S = 5.0


class MeasureError(RuntimeError):
    """An instrument could not be set up (the test server did not come up)."""


class PeakUss:
    """Samples a worker tree's USS every 0.2 s in a daemon thread and keeps the highest value.

    Its own :class:`TreeSampler` (they keep per-process state and are not shared across
    threads). Use as a context manager so the thread always stops.
    """

    def __init__(self, pid: int, interval: float = SAMPLE_INTERVAL_S) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._sampler = TreeSampler()
        self._thread = threading.Thread(target=self._loop, name="casestudy-uss", daemon=True)

    def _loop(self) -> None:
        while True:
            sample = self._sampler.sample(self.pid)
            if sample is not None:
                self.peak = max(self.peak, sample.memory_bytes)
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> PeakUss:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class TestServer:
    """``python -m pooldesk.backend.monitoring.testserver`` as a child process, stopped on exit.

    A separate process, not the in-process ``serve()`` thread: its 200 concurrent handler
    threads must not share a GIL with the sampler and the batch follower of the caller.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, delay_ms: int) -> None:
        self.delay_ms = delay_ms
        self.base_url = ""
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> TestServer:
        argv = [sys.executable, "-m", "pooldesk.backend.monitoring.testserver", "--port", "0"]
        argv += ["--delay-ms", str(self.delay_ms)]
        self._proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        try:
            self.base_url = self._read_url(self._proc)
        except BaseException:
            self.stop()
            raise
        return self

    @staticmethod
    def _read_url(proc: subprocess.Popen[bytes]) -> str:
        """The first stdout line is ``serving on http://127.0.0.1:PORT``; wait for it, bounded."""
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            if not sel.select(SERVER_READY_TIMEOUT_S):
                raise MeasureError(f"test server printed nothing in {SERVER_READY_TIMEOUT_S} s")
        line = proc.stdout.readline().decode("utf-8", "replace").strip()
        if not line.startswith("serving on http://"):
            raise MeasureError(f"test server did not start (exit {proc.poll()}): {line!r}")
        return line.removeprefix("serving on ")

    def stop(self) -> None:
        """SIGTERM (the server closes its socket), then SIGKILL after a bounded wait."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(SERVER_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(SERVER_STOP_TIMEOUT_S)
        if proc.stdout is not None:
            proc.stdout.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def last_done(app: Celery, task_ids: list[str]) -> float | None:
    """Epoch seconds of the latest ``date_done`` among the ``task_ids`` that ran to an end
    (SUCCESS or FAILURE; a revoked child has a ``date_done`` too); None if there is none.

    Read straight from the result backend (one MGET per 1,000 ids on Redis), because the batch
    summary's end is when the once-a-second watcher noticed, not when the work ended.
    """
    backend = app.backend
    metas: list[dict[str, Any]] = []
    client = getattr(backend, "client", None)
    if client is not None and hasattr(backend, "get_key_for_task"):
        for start in range(0, len(task_ids), 1000):
            keys = [backend.get_key_for_task(t) for t in task_ids[start : start + 1000]]
            metas += [backend.decode_result(raw) for raw in client.mget(keys) if raw is not None]
    else:
        metas = [backend.get_task_meta(t) for t in task_ids]
    ends = [_epoch(m.get("date_done")) for m in metas if m.get("status") in ("SUCCESS", "FAILURE")]
    known = [e for e in ends if e is not None]
    return max(known) if known else None


def _epoch(value: object) -> float | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:  # Celery stores UTC (enable_utc); a naive value is UTC too
        value = value.replace(tzinfo=UTC)
    return value.timestamp()
