"""Launch → mapped window: Pooldesk against a bare PySide6 window from the same venv.

    .venv/bin/python bench/startup.py [--runs 5]

Each run starts a fresh process (the ``pooldesk`` command with no arguments, in a throwaway
``POOLDESK_HOME``, or a ten-line bare ``QMainWindow``) under its own Xvfb display and notes
the wall-clock time before ``Popen``; the child writes the time its window was first exposed
(Qt's own ``Expose`` event on the window's surface: mapped and paintable, the moment a user
sees it) to a file and quits. Pooldesk's window does this through ``POOLDESK_STARTUP_MARK`` /
``POOLDESK_STARTUP_QUIT`` in ``desktop/app.py``, so nothing after the first paint (the pages,
the services, the broker) is counted or started. The two kinds alternate run by run, so a
busy machine slows both alike; the medians and their ratio are printed side by side.

Issue 21 measured 2.2–2.5 s against 0.12–0.20 s (18×) before the window painted its frame
first; the target is under 1 s here.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from _common import ROOT, text_table

TARGET_S = 1.0
BARE = """
import os, sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(sys.argv)
window = QMainWindow()
window.resize(1100, 700)
window.show()
class Watch(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Expose and watched.isExposed():
            open(os.environ["POOLDESK_STARTUP_MARK"], "w").write(f"{time.time():.6f}\\n")
            QTimer.singleShot(0, app.quit)
        return False
watch = Watch()
window.windowHandle().installEventFilter(watch)
app.exec()
"""


@contextlib.contextmanager
def xvfb(number: int) -> Iterator[str]:
    """A private X display (so no window manager or other helper's window interferes)."""
    if shutil.which("Xvfb") is None:
        raise SystemExit("startup: Xvfb not found (apt-get install xvfb)")
    display = f":{number}"
    proc = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", "1366x768x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{number}").exists():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"startup: Xvfb {display} did not start")
            time.sleep(0.05)
        yield display
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def one_run(kind: str, display: str, work: Path) -> float:
    mark = work / f"{kind}.mark"
    mark.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POOLDESK_", "CELERY_"))}
    env.update(
        DISPLAY=display,
        QT_QPA_PLATFORM="xcb",
        POOLDESK_HOME=str(work / "home"),
        POOLDESK_STARTUP_MARK=str(mark),
        POOLDESK_STARTUP_QUIT="1",
        PYTHONPATH=str(ROOT),
    )
    command = (
        [sys.executable, "-c", "from pooldesk.backend.cli import entry; entry()"]
        if kind == "pooldesk"
        else [sys.executable, "-c", BARE]
    )
    began = time.time()
    child = subprocess.run(command, env=env, capture_output=True, timeout=60, check=False)
    if not mark.exists():
        tail = child.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise SystemExit(f"startup: {kind} never mapped (exit {child.returncode}): {tail}")
    return float(mark.read_text()) - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each kind (median)")
    parser.add_argument("--display", type=int, default=97, help="Xvfb display number")
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {"bare PySide6": [], "pooldesk": []}
    with tempfile.TemporaryDirectory(prefix="pooldesk-startup-") as tmp, xvfb(args.display) as d:
        work = Path(tmp)
        one_run("bare", d, work)  # warm the file cache for both: the first run of the day
        one_run("pooldesk", d, work)  # reads a few hundred files either way
        for _ in range(args.runs):
            times["bare PySide6"].append(one_run("bare", d, work))
            times["pooldesk"].append(one_run("pooldesk", d, work))
    bare = statistics.median(times["bare PySide6"])
    ours = statistics.median(times["pooldesk"])
    rows = [
        [name, f"{statistics.median(v):.2f} s", f"{min(v):.2f}–{max(v):.2f} s"]
        for name, v in times.items()
    ]
    print(text_table([["window", f"launch → mapped, median of {args.runs}", "range"], *rows]))
    verdict = "met" if ours < TARGET_S else "NOT met"
    print(f"pooldesk / bare: {ours / bare:.1f}×; target < {TARGET_S:.0f} s {verdict}")
    return 0 if ours < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
