"""One blocking call off the GUI thread, its result back in the GUI thread.

For short, rare calls that are not broker traffic (a project's check: a subprocess of the
project's interpreter that imports the app, about a second). A Python thread runs the call and
a queued signal of one long-lived relay object brings ``callback(result, error)`` back to the
GUI thread — never a signal of the (possibly already deleted) dialog that asked, and the
callback is dropped if its owner has been deleted meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, Signal, Slot

Callback = Callable[[Any, BaseException | None], None]


class _Relay(QObject):
    done = Signal(object, object, object, object)  # owner, callback, result, error

    @Slot(object, object, object, object)
    def deliver(
        self, owner: QObject, callback: Callback, result: Any, error: BaseException | None
    ) -> None:
        if shiboken6.isValid(owner):
            callback(result, error)


_relay: _Relay | None = None


def _the_relay() -> _Relay:
    """Created in the GUI thread on first use, parented to the application: lives as long."""
    global _relay
    if _relay is None or not shiboken6.isValid(_relay):
        _relay = _Relay(QCoreApplication.instance())
        _relay.done.connect(_relay.deliver)
    return _relay


class Background:
    def __init__(self, owner: QObject) -> None:
        self.owner = owner
        self._threads: list[threading.Thread] = []

    def run(self, call: Callable[[], Any], callback: Callback) -> None:
        relay, owner = _the_relay(), self.owner

        def target() -> None:
            try:
                result, error = call(), None
            except Exception as exc:  # delivered to the callback, phrased there
                result, error = None, exc
            relay.done.emit(owner, callback, result, error)

        thread = threading.Thread(target=target, name="pooldesk-background", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    @property
    def busy(self) -> bool:
        return any(t.is_alive() for t in self._threads)
