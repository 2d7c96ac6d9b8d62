"""The desktop tier runs its widgets as the application does: cyclic garbage is collected in
the GUI thread only (``pooldesk.desktop.gc_thread``), and each test's garbage — its window, its
dialogs — is collected there as the test ends, never later by some service thread's allocation."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from pooldesk.desktop.gc_thread import GuiThreadCollector


@pytest.fixture(scope="session", autouse=True)
def _gc_in_gui_thread(qapp: Any) -> Iterator[None]:
    collector = GuiThreadCollector()
    yield
    collector.stop()


@pytest.fixture(autouse=True)
def _collect_after_each_test() -> Iterator[None]:
    yield
    gc.collect()
