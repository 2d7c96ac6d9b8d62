"""Plumbing the bench scripts share: a throwaway home, the window in a child process, timing.

Each ``bench/*.py`` script is run by hand (``.venv/bin/python bench/X.py``, the README cites the
commands) and measures one thing; what they all need lives here, so a fix (the broker left
running on Ctrl-C, a status file read half-written) is made once:

- :func:`bench_home`: a temporary ``POOLDESK_HOME`` with none of the user's broker or database
  settings, whose managed broker is stopped and directory deleted on the way out;
- the window in a child process: :func:`open_window` builds it as ``pooldesk.desktop.app.main``
  does,
  :func:`precise_ticker` is the stall meter's 10 ms timer, and the parent follows the child
  through a JSON status file (:func:`write_status`, :func:`read_status`, :func:`wait_for`);
- measuring and printing: :func:`tree_cpu`, :class:`Peaks`, :func:`pct`, :func:`text_table`.

Importing this module puts the repository root on ``sys.path`` (the scripts run from a checkout
without installing). Qt, psutil and the backend are imported inside the functions that need
them, so ``--help`` stays instant.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: Settings that would point a run at the user's broker or database instead of the temp home.
ISOLATE = (
    "POOLDESK_BROKER_URL",
    "POOLDESK_RESULT_BACKEND",
    "POOLDESK_INVOICE_DB",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
)


# -- a throwaway home ------------------------------------------------------------------------
@contextlib.contextmanager
def bench_home(prefix: str = "pooldesk-bench-") -> Iterator[Path]:
    """A temporary directory ``ROOT`` with ``POOLDESK_HOME=ROOT/home`` and the :data:`ISOLATE`
    settings removed (restored afterwards). On the way out, also on an exception or Ctrl-C,
    the home's task-history recorders and managed broker are stopped and the directory deleted,
    unless ``POOLDESK_BENCH_KEEP`` is set (then its path is printed)."""
    saved = {name: os.environ.pop(name, None) for name in ISOLATE}
    old_home = os.environ.get("POOLDESK_HOME")
    root = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["POOLDESK_HOME"] = str(root / "home")
    try:
        yield root
    finally:
        try:  # a window or a worker start may have started a task-history recorder here
            from pooldesk.backend.taskhistory import service

            for recorder in service.recorders():
                service.stop_recorder(recorder.key)
        except Exception as exc:
            print(f"stopping the task-history recorder: {exc}", file=sys.stderr)
        try:
            from pooldesk.backend.broker.managed import ManagedBroker

            ManagedBroker(root / "home" / "broker").stop(timeout=10)
        except Exception as exc:
            print(f"stopping the broker: {exc}", file=sys.stderr)
        if os.environ.get("POOLDESK_BENCH_KEEP"):
            print(f"(kept {root})", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
        for name, value in saved.items():
            if value is not None:
                os.environ[name] = value
        if old_home is None:
            os.environ.pop("POOLDESK_HOME", None)
        else:
            os.environ["POOLDESK_HOME"] = old_home


# -- the window in a child process -----------------------------------------------------------
def open_window(before_app: Callable[[], None] | None = None) -> tuple[Any, Any]:
    """``(QApplication, PooldeskWindow)`` built as ``pooldesk.desktop.app.main`` does, offscreen
    unless the caller chose a platform; not shown yet. ``before_app`` runs just before the
    ``QApplication`` is created (a timing mark)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from pooldesk.desktop import resources
    from pooldesk.desktop.gc_thread import GuiThreadCollector
    from pooldesk.desktop.shell.root import PooldeskWindow

    QApplication.setApplicationName("Pooldesk")
    QApplication.setOrganizationName("Pooldesk")
    if before_app is not None:
        before_app()
    app = QApplication([sys.argv[0]])
    resources.apply_style(app)
    GuiThreadCollector(parent=app)  # as desktop.app.main: collections in the GUI thread only
    return app, PooldeskWindow()


def show_page(window: Any, title: str) -> None:
    """Select the navigation entry called ``title``, as a click on it would."""
    titles = [window.nav.item(r).text() for r in range(window.nav.count())]
    window.nav.setCurrentRow(titles.index(title))


def precise_ticker(tick: Callable[[], None], interval_ms: int) -> Any:
    """A started ``PreciseTimer`` calling ``tick`` every ``interval_ms``: how late each tick
    fires is how long the GUI thread was busy (the stall meter). Keep the returned timer."""
    from PySide6.QtCore import Qt, QTimer

    ticker = QTimer()
    ticker.setTimerType(Qt.TimerType.PreciseTimer)
    ticker.timeout.connect(tick)
    ticker.start(interval_ms)
    return ticker


def write_status(path: Path, data: dict[str, Any]) -> None:
    """Write via temp + rename: the parent polling the file never reads half of it."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def read_status(path: Path) -> dict[str, Any]:
    """The child's last status, ``{}`` before the first one."""
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def wait_for(
    what: str,
    check: Callable[[], Any],
    timeout: float,
    child: subprocess.Popen[bytes] | None = None,
) -> Any:
    """Poll ``check`` every 0.2 s until it returns something true (returned), failing after
    ``timeout`` or as soon as ``child`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if child is not None and child.poll() is not None:
            raise RuntimeError(f"the window exited (code {child.returncode}) before {what}")
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    """SIGTERM, a bounded wait, then SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


# -- measuring and printing ------------------------------------------------------------------
def tree_cpu(pid: int | None) -> float:
    """User + system CPU seconds of a process and its children (0 when gone)."""
    import psutil

    total = 0.0
    if not pid:
        return total
    try:
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            try:
                t = proc.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return total


def pct(ordered: Sequence[float], p: float) -> float:
    """The ``p`` quantile (0..1) of already sorted values, 0 for none."""
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else 0.0


def text_table(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart; the first row is the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    )


class Peaks:
    """Peak broker memory and window RSS, sampled every 0.25 s in a thread."""

    def __init__(self, redis: Any, window_pid: int | None) -> None:
        self.redis, self.window_pid = redis, window_pid
        self.broker = 0
        self.window = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        import psutil

        while not self._stop.is_set():
            with contextlib.suppress(Exception):
                self.broker = max(self.broker, int(self.redis.info("memory")["used_memory"]))
            if self.window_pid:
                with contextlib.suppress(psutil.Error):
                    self.window = max(
                        self.window, psutil.Process(self.window_pid).memory_info().rss
                    )
            self._stop.wait(0.25)

    def __enter__(self) -> Peaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
