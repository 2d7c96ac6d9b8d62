"""How much history a chart shows: the choices every "Show the last" combo offers, and the
history source charts read (the TelemetryController's ring buffers), shared by the Overview and
the Workers page's detail pane so both offer the same spans and redraw at the same pace."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QComboBox

History = Callable[[str, float], dict[str, list[float]]]
WINDOWS = (("1 min", 60), ("5 min", 300), ("15 min", 900), ("1 h", 3600))
DEFAULT_WINDOW = 300
CHART_MS = 500  # redraw period while a chart is on screen


def no_history(_series: str, _seconds: float) -> dict[str, list[float]]:
    """The source until the telemetry thread has one: nothing to draw yet."""
    return {}


def window_combo() -> QComboBox:
    """A "Show the last" combo; ``currentData()`` is the span in seconds."""
    combo = QComboBox()
    for text, seconds in WINDOWS:
        combo.addItem(text, seconds)
    combo.setCurrentIndex([s for _, s in WINDOWS].index(DEFAULT_WINDOW))
    return combo
