"""The README's screenshots, taken from the real window over a real live scene.

Run: ``make screenshots`` or ``.venv/bin/python -m pooldesk.desktop.screenshots [--out
docs/screenshots]``

Screenshots that show mocked or empty data teach nothing and go stale, so this builds the scene
of ``desktop/scene.py`` (a throwaway ``POOLDESK_HOME``, the managed broker, 8 real workers
including a gevent worker on the CPU-bound ``invoices`` queue, 6,000 seeded customers), opens
the real ``MainWindow`` at 1366×768 (``--size``) under a real X server, launches a
6,000-invoice batch and a monitoring batch, and waits until every page shows live data:
workers online with CPU figures, the advisor's *measured* gevent-trap warning on Overview (it
needs the gevent worker to be running chunks), the batch part-way, and the charts with some
history. Then it grabs Overview, Workers, Batches (the invoice batch selected, so its details
show) and Settings to ``overview.png``, ``workers.png``, ``batches.png`` and ``settings.png``,
and the Overview once more in the dark appearance (``overview_dark.png``).

Display: with ``DISPLAY`` unset it starts ``Xvfb :N -screen 0 1366x768x24`` itself (and stops it
afterwards) and uses ``QT_QPA_PLATFORM=xcb``, so fonts, styles and pixel formats are those of a
real X desktop. Without Xvfb it says so and falls back to the ``offscreen`` platform.

Secrets: before saving, the visible text of every widget (labels, line edits not in password
mode, buttons, table cells) is searched for the managed broker's password; a hit aborts without
writing any image. Everything the scene started is stopped and its directory deleted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
SCREEN = "1366x768x24"
# A common laptop screen (issue 21): the window fits it without scrolling sideways.
WINDOW_SIZE = (1366, 768)
CHART_WINDOW = "1 min"  # 30-60 s of history fills a 1-minute chart; a 5-minute one looks empty
TRAP_WORKER = "invoices-gevent"


# -- the X server ----------------------------------------------------------------------------
@contextlib.contextmanager
def x_display(screen: str = SCREEN) -> Iterator[str]:
    """An X display for Qt's xcb platform: ``$DISPLAY`` if set, else a private Xvfb; yields
    the Qt platform name to use ("xcb", or "offscreen" when no X server can be had)."""
    if os.environ.get("DISPLAY"):
        yield "xcb"
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        print(
            "screenshots: Xvfb not found (apt-get install xvfb); falling back to the offscreen "
            "platform: the images lack the X server's font rendering",
            file=sys.stderr,
        )
        yield "offscreen"
        return
    number = next(
        n
        for n in range(90, 200)
        if not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists()
    )
    server = subprocess.Popen(
        [xvfb, f":{number}", "-screen", "0", screen, "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{number}").exists():
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Xvfb :{number} did not start (exit {server.poll()})")
            time.sleep(0.05)
        os.environ["DISPLAY"] = f":{number}"
        yield "xcb"
    finally:
        os.environ.pop("DISPLAY", None)
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)


# -- driving the window ----------------------------------------------------------------------
_stop_signals: list[int] = []


def _note_signal(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C / SIGTERM while Qt runs: only noted. An exception raised here could land inside
    a Python override called from C++ (a model's ``rowCount``), where PySide prints and
    swallows it; :func:`pump` raises it instead, from plain Python, so the scene is cleaned."""
    _stop_signals.append(signum)


@contextlib.contextmanager
def signals_noted() -> Iterator[None]:
    saved = {sig: signal.signal(sig, _note_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def pump(seconds: float) -> None:
    """Let the window live (timers, controller signals, painting) for ``seconds``."""
    from PySide6.QtCore import QCoreApplication, QEventLoop

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _stop_signals:
            raise KeyboardInterrupt(f"signal {_stop_signals[0]}")
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.01)


def wait_until(what: str, check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        pump(0.25)
    print(f"screenshots: gave up waiting for {what} after {timeout:.0f} s", file=sys.stderr)
    return False


def visible_texts(root: Any) -> list[str]:
    """Every text a screenshot of ``root`` can show (window title, labels, fields, buttons,
    combo boxes, table cells), for the secrets check."""
    from PySide6.QtCore import QAbstractListModel, Qt
    from PySide6.QtWidgets import (
        QAbstractButton,
        QAbstractItemView,
        QComboBox,
        QLabel,
        QLineEdit,
        QWidget,
    )

    texts = [root.windowTitle()]
    for widget in root.findChildren(QWidget):
        if isinstance(widget, QLabel):
            texts.append(widget.text())
        elif isinstance(widget, QLineEdit):
            if widget.echoMode() == QLineEdit.EchoMode.Normal:
                texts.append(widget.text())
        elif isinstance(widget, QAbstractButton):
            texts.append(widget.text())
        elif isinstance(widget, QComboBox):
            texts.extend(widget.itemText(i) for i in range(widget.count()))
        elif isinstance(widget, QAbstractItemView) and widget.model() is not None:
            model = widget.model()
            list_like = isinstance(model, QAbstractListModel)  # columnCount() is private there
            for row in range(model.rowCount()):
                for column in range(1 if list_like else model.columnCount()):
                    value = model.index(row, column).data(Qt.ItemDataRole.DisplayRole)
                    texts.append("" if value is None else str(value))
    return texts


def _warn_scrollbars(page: Any, title: str) -> None:
    """Say so when a page does not fit the window sideways: a screenshot would show a
    horizontal scrollbar and clipped content (a layout defect worth fixing, not hiding)."""
    from PySide6.QtWidgets import QScrollArea

    for area in page.findChildren(QScrollArea):
        bar = area.horizontalScrollBar()
        if area.isVisible() and bar.isVisible():
            needed = area.widget().minimumSizeHint().width() if area.widget() else 0
            print(
                f"screenshots: the {title} page scrolls sideways: its content needs {needed} px, "
                f"the viewport has {area.viewport().width()} px",
                file=sys.stderr,
            )


def _short_chart_windows(window: Any) -> None:
    """Every "Show the last" chooser (Overview, a worker's charts) to ``CHART_WINDOW``: the
    scene is a minute old, and an hour-wide chart of one minute looks empty."""
    from PySide6.QtWidgets import QComboBox

    for combo in window.findChildren(QComboBox):
        texts = [combo.itemText(i) for i in range(combo.count())]
        if CHART_WINDOW in texts and "1 h" in texts:
            combo.setCurrentText(CHART_WINDOW)


def _batch_fraction(window: Any, batch_id: str) -> float:
    record = next((r for r in window.batches_page.model.records() if r.id == batch_id), None)
    if record is None:
        return 0.0
    counts = record.counts or {}
    total = int(counts.get("total", 0))
    done = sum(int(counts.get(k, 0)) for k in ("succeeded", "failed", "cancelled"))
    return done / total if total else 0.0


def take(out: Path, wait: float, urls: int, size: tuple[int, int] = WINDOW_SIZE) -> int:
    """Build the scene, drive the window, save the four PNGs; 0 when all is well."""
    from PySide6.QtWidgets import QApplication

    from pooldesk.backend.broker.managed import ManagedBroker
    from pooldesk.desktop import resources
    from pooldesk.desktop.gc_thread import GuiThreadCollector
    from pooldesk.desktop.scene import Scene

    os.environ["POOLDESK_CLOSE_ANSWER"] = "leave"  # the scene stops the workers itself
    with Scene(workers=8, periods=1) as scene:
        assert scene.root is not None
        os.environ["XDG_CONFIG_HOME"] = str(scene.root / "xdg")  # no user Qt settings
        QApplication.setApplicationName("Pooldesk")
        QApplication.setOrganizationName("Pooldesk")
        QApplication.setDesktopFileName("pooldesk")
        app = QApplication.instance() or QApplication([sys.argv[0]])
        assert isinstance(app, QApplication)
        resources.apply_style(app)
        GuiThreadCollector(parent=app)  # as desktop.app.main

        from pooldesk.desktop.shell.root import PooldeskWindow

        window = PooldeskWindow()
        window.resize(*size)
        window.show()
        advice: list[Any] = []
        window.telemetry.adviceChanged.connect(
            lambda current: advice.__setitem__(slice(None), current)
        )
        try:
            with signals_noted():
                return _drive(window, scene, advice, out, wait, urls, ManagedBroker)
        finally:
            window.close()
            QApplication.processEvents()


def _drive(
    window: Any,
    scene: Any,
    advice: list[Any],
    out: Path,
    wait: float,
    urls: int,
    broker_cls: Any,
) -> int:
    overview = window.overview_page
    names = [spec.name for spec in scene.plan]

    def online() -> int:
        return sum(1 for w in window.workers_page.model.workers() if w.state == "online")

    wait_until("the workers online in the window", lambda: online() == len(names), 60)
    _short_chart_windows(window)
    pump(12.0)  # a baseline before the batch: the charts show the rise
    invoices = scene.launch_invoices()
    if urls:
        scene.launch_monitoring(urls)
    launched = time.monotonic()

    def trap_measured() -> bool:
        return any(a.rule == "cpu_under_gevent" and a.severity == "critical" for a in advice)

    def ready() -> bool:
        elapsed = time.monotonic() - launched
        return elapsed >= wait and trap_measured() and _batch_fraction(window, invoices.id) >= 0.25

    wait_until("the measured gevent warning and the batch part-way", ready, wait + 90)
    print(
        f"screenshots: {time.monotonic() - launched:.0f} s after launch, batch "
        f"{_batch_fraction(window, invoices.id):.0%} done, advice: "
        + ", ".join(f"{a.severity} {a.rule}" for a in advice),
        file=sys.stderr,
    )

    state = broker_cls().state()
    password = state.password if state is not None else ""
    shots: dict[str, Any] = {}
    titles = [window.nav.item(r).text() for r in range(window.nav.count())]

    def show(title: str, prepare: Callable[[], None] | None = None, settle: float = 1.5) -> None:
        window.nav.setCurrentRow(titles.index(title))
        if prepare is not None:
            prepare()
        pump(settle)
        _warn_scrollbars(window.pages.currentWidget(), title)
        texts = visible_texts(window)
        if password and any(password in text for text in texts):
            raise RuntimeError(f"the broker password is visible on the {title} page")
        shots[title.lower()] = window.grab()

    show("Overview", lambda: overview.select_worker(TRAP_WORKER), settle=2.0)

    def select_trap_worker() -> None:  # its detail pane (if any) shows the trap's charts
        window.workers_page.select(TRAP_WORKER)
        _short_chart_windows(window)

    show("Workers", select_trap_worker)
    show("Batches", lambda: window.batches_page.select(invoices.id), settle=2.5)
    show("Settings")

    def dark() -> None:  # the same window in the dark appearance (settings: appearance)
        from PySide6.QtWidgets import QApplication

        from pooldesk.desktop import resources

        resources.apply_appearance(QApplication.instance(), "dark")

    light = shots["overview"]
    show("Overview", dark, settle=2.0)
    shots["overview_dark"], shots["overview"] = shots["overview"], light
    out.mkdir(parents=True, exist_ok=True)
    for name, pixmap in shots.items():
        path = out / f"{name}.png"
        if not pixmap.save(str(path), "PNG"):
            raise RuntimeError(f"could not write {path}")
        print(f"screenshots: wrote {path} ({pixmap.width()}×{pixmap.height()})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the PNGs")
    parser.add_argument(
        "--wait", type=float, default=25.0, help="least seconds of batch before the shots"
    )
    parser.add_argument("--urls", type=int, default=1000, help="monitoring batch size (0: none)")
    parser.add_argument(
        "--size", default=f"{WINDOW_SIZE[0]}x{WINDOW_SIZE[1]}", help="window size, WxH"
    )
    args = parser.parse_args(argv)
    try:
        width, height = (int(part) for part in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size {args.size!r}: give WIDTHxHEIGHT, e.g. 1366x768")
    screen = f"{width}x{height}x24"  # the window fills the screen, as on a laptop
    try:
        with x_display(screen) as platform:
            os.environ["QT_QPA_PLATFORM"] = platform
            return take(args.out, args.wait, args.urls, (width, height))
    except KeyboardInterrupt:
        print("screenshots: interrupted; everything started was stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
