"""Start the window: ``pooldesk`` with no arguments lands in :func:`main`.

Also installs the last line of defence: an excepthook that logs the traceback (to a rotating
file under ``$POOLDESK_HOME/logs/app/``) and shows a readable dialog with the details behind a
button, from whichever thread the exception happened in. Before Qt starts it checks for a
display and routes Qt's own messages into that log (``desktop/startup.py``); one window per data
directory (``desktop/single_instance.py``).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QWindow
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from pooldesk.backend import paths
from pooldesk.backend.redact import mask_text
from pooldesk.backend.units import MiB
from pooldesk.desktop import resources, startup
from pooldesk.desktop.gc_thread import GuiThreadCollector
from pooldesk.desktop.single_instance import InstanceGuard

log = logging.getLogger("desktop")


class MaskingFormatter(logging.Formatter):
    """Tracebacks quote URLs; the log file must not keep their passwords."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_text(super().format(record), [])


def setup_logging() -> None:
    directory = paths.app_logs_dir()
    handler = logging.handlers.RotatingFileHandler(
        directory / "pooldesk.log", maxBytes=2 * MiB, backupCount=3, encoding="utf-8"
    )
    handler.setFormatter(
        MaskingFormatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


class ErrorReporter(QObject):
    """Shows unexpected exceptions; lives in the GUI thread, is reached through a signal."""

    _report = Signal(str, str)

    def __init__(self) -> None:
        super().__init__()
        self._showing = False
        self._report.connect(self._show)

    def excepthook(
        self,
        kind: type[BaseException],
        value: BaseException,
        tb: TracebackType | None,
    ) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, tb)
            return
        log.error("unexpected error", exc_info=(kind, value, tb))
        detail = mask_text("".join(traceback.format_exception(kind, value, tb)), [])
        self._report.emit(mask_text(f"{kind.__name__}: {value}", []), detail)  # queued if needed

    def thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        self.excepthook(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)

    def _show(self, summary: str, detail: str) -> None:
        if self._showing:  # one dialog at a time; the rest are in the log
            return
        self._showing = True
        try:
            box = QMessageBox(QMessageBox.Icon.Critical, "Pooldesk", "Something went wrong.")
            box.setInformativeText(
                f"{summary}\n\nPooldesk keeps running, but the last action may not have "
                f"completed. The details are also in {paths.logs_dir() / 'app' / 'pooldesk.log'}."
            )
            box.setDetailedText(detail)
            box.exec()
        finally:
            self._showing = False


def _bring_to_front(window: QWidget) -> None:
    """A second ``pooldesk`` was launched: show this window instead (restored, on top)."""
    window.setWindowState(window.windowState() & ~Qt.WindowState.WindowMinimized)
    window.show()
    window.raise_()
    window.activateWindow()


class _ExposeWatch(QObject):
    """Calls back once, when the window's surface is first exposed (mapped and paintable)."""

    def __init__(self, window: QWidget, callback: Callable[[], None]) -> None:
        super().__init__(window)
        self._callback: Callable[[], None] | None = callback
        handle = window.windowHandle()
        if handle is not None:
            handle.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Expose and self._callback is not None:
            handle = watched if isinstance(watched, QWindow) else None
            if handle is None or handle.isExposed():
                callback, self._callback = self._callback, None
                QTimer.singleShot(0, callback)  # after this expose has painted
        return False


def on_first_expose(window: QWidget, callback: Callable[[], None]) -> None:
    _ExposeWatch(window, callback)


def _after_first_paint(window: Any, app: QApplication) -> None:
    """Write the moment the window was on screen (``POOLDESK_STARTUP_MARK``, for
    bench/startup.py; with ``POOLDESK_STARTUP_QUIT`` it leaves right there), then attach."""
    mark = os.environ.get("POOLDESK_STARTUP_MARK")
    if mark:
        Path(mark).write_text(f"{time.time():.6f}\n", encoding="utf-8")
        if os.environ.get("POOLDESK_STARTUP_QUIT"):
            window.close_guard = None
            app.quit()
            return
    window.attach()


def main(argv: list[str] | None = None) -> int:
    problem = startup.display_problem()
    if problem:
        print(f"pooldesk: {problem}", file=sys.stderr)
        return 1
    setup_logging()
    startup.enable_faulthandler()
    startup.install_qt_message_handler()  # before QApplication: its platform plugin may fail
    QApplication.setApplicationName("Pooldesk")
    QApplication.setOrganizationName("Pooldesk")
    QApplication.setDesktopFileName("pooldesk")
    app = QApplication.instance() or QApplication(sys.argv if argv is None else argv)
    assert isinstance(app, QApplication)
    guard = InstanceGuard()
    if not guard.listen():
        print(
            f"pooldesk: a window is already open for {paths.home()}; brought it to the front",
            file=sys.stderr,
        )
        return 0
    reporter = ErrorReporter()
    sys.excepthook = reporter.excepthook
    threading.excepthook = reporter.thread_excepthook
    resources.apply_style(app)
    from pooldesk.backend.settings import load as load_settings

    resources.apply_appearance(app, load_settings().settings.appearance)  # system/light/dark
    GuiThreadCollector(parent=app)  # Qt objects in garbage die in the GUI thread, never elsewhere
    # The frame first (no broker, Celery, kombu or pyqtgraph import on the way to it: it maps
    # in a few tenths of a second here), then the pages and services right after its first
    # paint (about a second of imports and threads; bench/startup.py measures both).
    from pooldesk.desktop.shell.root import PooldeskWindow

    window = PooldeskWindow(deferred=True)
    window.show()
    on_first_expose(window, lambda: _after_first_paint(window, app))
    guard.raiseRequested.connect(lambda: _bring_to_front(window))
    # Ctrl+C in the terminal closes the window cleanly; the timer lets Python see the signal.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    ticker = QTimer()
    ticker.start(300)
    ticker.timeout.connect(lambda: None)
    log.info("window started")
    try:
        return app.exec()
    finally:
        ticker.stop()
        guard.close()
        sys.excepthook = sys.__excepthook__
        threading.excepthook = threading.__excepthook__
