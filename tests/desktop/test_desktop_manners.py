"""Desktop manners: no display, Qt's own messages, crashes, one window per data dir, About."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QObject, QUrl, Slot, qWarning
from PySide6.QtGui import QDesktopServices
from pytestqt.qtbot import QtBot

from pooldesk.desktop import startup
from pooldesk.desktop.single_instance import InstanceGuard, server_name

GUI = "from pooldesk.backend.cli import entry; entry()"


def _pooldesk(home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    base.pop("QT_QPA_PLATFORM", None)
    base.update(POOLDESK_HOME=str(home), **env)
    return subprocess.run(
        [sys.executable, "-c", GUI], env=base, capture_output=True, text=True, timeout=60
    )


def test_no_display_is_one_readable_line(home: Path) -> None:
    result = _pooldesk(home)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "pooldesk: no display: neither DISPLAY nor WAYLAND_DISPLAY is set, so the window cannot "
        "open (the CLI works without one: pooldesk --help)"
    ]


def test_a_display_qt_cannot_reach_is_one_readable_line(home: Path) -> None:
    """Qt's fatal platform-plugin error (it would abort with a core) becomes one line, exit 1."""
    result = _pooldesk(home, QT_QPA_PLATFORM="xcb", DISPLAY=":97")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pooldesk: the window cannot start: ")
    assert "Traceback" not in result.stderr
    # …and the same message is in the rotating log, where a support request would look.
    assert "could not" in (home / "logs" / "app" / "pooldesk.log").read_text().lower()


def test_display_problem_only_where_a_display_server_is_needed() -> None:
    assert startup.display_problem({}, "linux")
    assert startup.display_problem({"QT_QPA_PLATFORM": "xcb"}, "linux")
    assert startup.display_problem({"DISPLAY": ":0"}, "linux") is None
    assert startup.display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert startup.display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert startup.display_problem({}, "darwin") is None
    assert startup.display_problem({}, "win32") is None


def test_qt_warnings_reach_the_log(home: Path, qtbot: QtBot) -> None:
    from pooldesk.desktop.app import setup_logging

    setup_logging()
    previous = startup.install_qt_message_handler()
    try:
        qWarning("pooldesk-test: a Qt warning")
    finally:
        from PySide6.QtCore import qInstallMessageHandler

        qInstallMessageHandler(previous)
    import logging

    for handler in logging.getLogger().handlers:
        handler.flush()
    assert "pooldesk-test: a Qt warning" in (home / "logs" / "app" / "pooldesk.log").read_text()


def test_a_hard_crash_leaves_its_stacks_in_crash_log(home: Path) -> None:
    code = "from desktop import startup; startup.enable_faulthandler(); import faulthandler; "
    code += "faulthandler._sigsegv()"
    env = {**os.environ, "POOLDESK_HOME": str(home)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=60)
    assert result.returncode != 0
    crash = (home / "logs" / "app" / "crash.log").read_text()
    assert "Segmentation fault" in crash and "Current thread" in crash


def test_a_second_launch_raises_the_first_window(home: Path, qtbot: QtBot) -> None:
    guard = InstanceGuard(server_name(home))
    assert guard.listen()
    try:
        with qtbot.waitSignal(guard.raiseRequested, timeout=30_000):
            second = subprocess.Popen(
                [sys.executable, "-c", GUI],
                env={**os.environ, "POOLDESK_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"},
                stderr=subprocess.PIPE,
                text=True,
            )
            _, err = second.communicate(timeout=60)
        assert second.returncode == 0
        assert err.strip() == (
            f"pooldesk: a window is already open for {home}; brought it to the front"
        )
        assert not (home / "window.ini").exists()  # the second process built no window
    finally:
        guard.close()


def test_a_stale_socket_of_a_crashed_window_is_taken_over(home: Path, qtbot: QtBot) -> None:
    name = server_name(home)
    stale = Path(tempfile.gettempdir()) / name
    with socket.socket(socket.AF_UNIX) as sock:  # bound, then gone without unlinking: a crash
        sock.bind(str(stale))
    assert stale.exists()
    guard = InstanceGuard(name)
    try:
        assert guard.listen()
        assert guard.listening
    finally:
        guard.close()


class _UrlCatcher(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def test_about_lists_versions_and_opens_the_log_folder(home: Path, qtbot: QtBot) -> None:
    from pooldesk.desktop.views.about_dialog import AboutDialog

    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    for name in ("Pooldesk", "celery", "kombu", "Qt", "PySide6-Essentials", "Python"):
        assert name in dialog.versions and dialog.versions[name] != "not installed"
    assert str(home) not in dialog.text()  # pasted into bug reports: no user paths
    catcher = _UrlCatcher()
    QDesktopServices.setUrlHandler("file", catcher, "open")
    try:
        dialog.open_logs.click()
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert [u.toLocalFile() for u in catcher.urls] == [str(home / "logs" / "app")]
