"""What the window process sets up before Qt can fail: display check, Qt messages, crashes.

Why: without a display Qt aborts inside ``QApplication()`` with a platform-plugin dump and a
core; a user who typed ``pooldesk`` over ssh deserves one readable line and exit code 1. Qt's
own warnings and fatal errors bypass Python's logging unless a message handler routes them, and
a hard crash (segfault in a C extension) leaves nothing unless ``faulthandler`` writes it out.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import sys
from typing import IO, Any

from PySide6.QtCore import QMessageLogContext, QtMsgType, qInstallMessageHandler

from pooldesk.backend import paths

log = logging.getLogger("qt")

_LEVELS = {
    QtMsgType.QtDebugMsg: logging.DEBUG,
    QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING,
    QtMsgType.QtCriticalMsg: logging.ERROR,
    QtMsgType.QtFatalMsg: logging.CRITICAL,
}
_fault_file: IO[str] | None = None  # kept open for the life of the process (faulthandler's fd)


def display_problem(env: dict[str, str] | None = None, platform: str = sys.platform) -> str | None:
    """Why no window can open here, or None. Only Linux/BSD desktops need a display server."""
    env = dict(os.environ) if env is None else env
    if platform.startswith(("win", "darwin")):
        return None
    chosen = env.get("QT_QPA_PLATFORM", "")
    if chosen and not chosen.startswith(("xcb", "wayland")):
        return None  # offscreen, vnc, eglfs…: the user picked a platform that needs no display
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    return (
        "no display: neither DISPLAY nor WAYLAND_DISPLAY is set, so the window cannot open "
        "(the CLI works without one: pooldesk --help)"
    )


def _on_qt_message(kind: QtMsgType, context: QMessageLogContext, message: str) -> None:
    log.log(_LEVELS.get(kind, logging.WARNING), "%s", message)
    if kind == QtMsgType.QtFatalMsg:
        # Qt aborts right after this handler returns: say it in one line and leave cleanly.
        first = message.strip().splitlines()[0] if message.strip() else "fatal Qt error"
        sys.stderr.write(f"pooldesk: the window cannot start: {first}\n")
        sys.stderr.flush()
        logging.shutdown()
        os._exit(1)


def install_qt_message_handler() -> Any:
    """Route Qt's messages into the log; returns the previous handler."""
    return qInstallMessageHandler(_on_qt_message)


def enable_faulthandler() -> None:
    """A hard crash writes every thread's stack to ``logs/app/crash.log``."""
    global _fault_file
    if _fault_file is None:
        _fault_file = open(paths.app_logs_dir() / "crash.log", "a", encoding="utf-8")  # noqa: SIM115
    faulthandler.enable(_fault_file, all_threads=True)
