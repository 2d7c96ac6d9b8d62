"""Python's cyclic garbage collector runs in the GUI thread only, on a timer.

Why: CPython runs a collection in whichever thread happens to allocate when a generation's
threshold is crossed. In the window that is often a service thread (``desktop/services/``), and
when the garbage holds Qt wrappers — a closed dialog, a window's actions and menus left in a
reference cycle — their C++ destructors then run in that thread: Qt objects destroyed off the
thread they belong to. Seen here as a deadlock of the desktop tests: the worker service's thread,
collecting, was inside ``QObject::~QObject`` holding Qt's connection lock and waiting for the GIL,
while the GUI thread, holding the GIL, ran shiboken's deferred widget deletion and waited for that
lock. pyqtgraph documents the same remedy (``pyqtgraph.util.garbage_collector``): switch the
automatic collector off and collect, generation by generation as CPython would, from a GUI-thread
timer. Reference counting still frees everything that is not in a cycle at once, in any thread.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 1_000


class GuiThreadCollector(QObject):
    """Create it in the GUI thread once a ``QApplication`` exists; :meth:`stop` gives the
    collection back to CPython (tests, or before the application object goes)."""

    def __init__(self, interval_ms: int = INTERVAL_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.threshold = gc.get_threshold()
        gc.disable()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.check)
        self.timer.start(interval_ms)

    def check(self) -> int:
        """Collect the generations CPython would have collected by now; how many objects."""
        young, middle, old = gc.get_count()
        found = 0
        if young > self.threshold[0]:
            found += gc.collect(0)
            if middle > self.threshold[1]:
                found += gc.collect(1)
                if old > self.threshold[2]:
                    found += gc.collect(2)
        return found

    def stop(self) -> None:
        self.timer.stop()
        gc.collect()
        gc.enable()
