"""One blocking call off the GUI thread, its result back in the GUI thread.

For short, rare calls that are not broker traffic (a project's check: a subprocess of the
project's interpreter that imports the app, about a second). A Python thread runs the call and a
queued signal brings ``callback(result, error)`` back to the thread that owns this object.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

Callback = Callable[[Any, BaseException | None], None]


class Background(QObject):
    _done = Signal(object, object, object)  # callback, result, error

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._done.connect(self._deliver)
        self._threads: list[threading.Thread] = []

    def run(self, call: Callable[[], Any], callback: Callback) -> None:
        def target() -> None:
            try:
                result, error = call(), None
            except Exception as exc:  # delivered to the callback, phrased there
                result, error = None, exc
            with contextlib.suppress(RuntimeError):  # the owner was deleted: nobody to tell
                self._done.emit(callback, result, error)

        thread = threading.Thread(target=target, name="pooldesk-background", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    @property
    def busy(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    @Slot(object, object, object)
    def _deliver(self, callback: Callback, result: Any, error: BaseException | None) -> None:
        callback(result, error)
