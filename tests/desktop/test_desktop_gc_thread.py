"""Cyclic garbage is collected in the GUI thread, never in a service thread (see
``pooldesk.desktop.gc_thread`` for the deadlock this prevents)."""

from __future__ import annotations

import gc
import threading
from typing import Any

from pooldesk.desktop.gc_thread import GuiThreadCollector


class _Cycle:
    """Garbage only the cycle collector can free; says in which thread it was freed."""

    def __init__(self, freed_in: list[str]) -> None:
        self.me = self
        self.freed_in = freed_in

    def __del__(self) -> None:
        self.freed_in.append(threading.current_thread().name)


def test_garbage_made_in_a_service_thread_is_collected_in_the_gui_thread(qtbot: Any) -> None:
    gc.collect()
    freed_in: list[str] = []
    collector = GuiThreadCollector(interval_ms=50)
    try:
        assert not gc.isenabled()

        kept: list[list[object]] = []

        def service() -> None:
            for _ in range(50):
                _Cycle(freed_in)
            # Enough live allocations to cross every generation's threshold many times over:
            # with the automatic collector on, the cycles would be freed here, in this thread.
            kept.extend([] for _ in range(200_000))

        thread = threading.Thread(target=service, name="pooldesk-service")
        thread.start()
        thread.join()
        assert freed_in == []  # nothing collected in the service thread
        qtbot.waitUntil(lambda: len(freed_in) == 50, timeout=5_000)
        assert set(freed_in) == {threading.main_thread().name}
        kept.clear()
    finally:
        collector.stop()
    assert gc.isenabled()
