"""Settings errors beside their fields, in the user's words.

``Settings.validate()`` says ``broker_url: 'x' is not a redis://… URL``: the key is settings.json's
(and the CLI's), not the window's. The page listed those at the bottom, far from the field, with
the internal name and the field unmarked. Here each problem goes to a red line right under its
field, the field is marked (``invalid`` property, style.qss), and what has no field of its own is
said with the field's label instead of its key.
"""

from __future__ import annotations

from PySide6.QtWidgets import QFormLayout, QLabel, QLayout, QWidget

# settings.json keys as the window names them (the labels of their fields).
FIELD_WORDS = {
    "broker_url": "External broker",
    "result_backend": "Result backend",
    "invoice_db": "Invoice database",
    "sampling_interval": "Sampling interval",
    "stop_timeout": "Stop timeout",
    "start_timeout": "Start timeout",
    "visibility_timeout": "Visibility timeout",
    "worker_nice": "Worker CPU priority",
    "metrics_port": "Metrics port",
    "presets": "Worker presets",
    "task_history_max_tasks": "Task history size",
    "task_history_max_days": "Task history age",
    "task_history_hide_args": "Hide task arguments",
    "advisor": "Advisor thresholds",
    "advisor.queue_nature": "Queue natures",
}


def split(problem: str) -> tuple[str | None, str]:
    """``"broker_url: bad"`` → (``"broker_url"``, ``"bad"``); (None, problem) without a key."""
    key, sep, text = problem.partition(": ")
    if sep and (key in FIELD_WORDS or key.startswith("advisor.")):
        return key, text
    return None, problem


def in_words(problem: str, labels: dict[str, str] | None = None) -> str:
    """The problem with its key replaced by the field's label."""
    key, text = split(problem)
    if key is None:
        return problem
    words = (labels or {}).get(key) or FIELD_WORDS.get(key)
    if words is None:  # advisor.some_threshold: its words from its name
        words = key.split(".", 1)[-1].replace("_", " ").capitalize()
    return f"{words}: {text}"


def error_under(layout: QFormLayout, field: QWidget | QLayout) -> QLabel:
    """A hidden red line inserted right under ``field``'s row of ``layout``."""
    label = QLabel()
    label.setObjectName("problems")
    label.setWordWrap(True)
    label.setVisible(False)
    if isinstance(field, QWidget):
        row, _role = layout.getWidgetPosition(field)
    else:
        row, _role = layout.getLayoutPosition(field)
    layout.insertRow(row + 1, "", label)
    return label


def mark(widget: QWidget, bad: bool) -> None:
    """Outline a field that has a problem (``*[invalid="true"]`` in style.qss)."""
    if bool(widget.property("invalid")) == bad:
        return
    widget.setProperty("invalid", bad)
    widget.style().unpolish(widget)
    widget.style().polish(widget)


class FieldErrors:
    """Fields that can show their own error: key → (field, its error line)."""

    def __init__(self) -> None:
        self.fields: dict[str, tuple[QWidget, QLabel]] = {}
        self.labels: dict[str, str] = {}  # key → the field's label, for errors shown elsewhere

    def add(self, key: str, field: QWidget, error: QLabel, words: str | None = None) -> None:
        self.fields[key] = (field, error)
        if words:
            self.labels[key] = words

    def show(self, problems: list[str]) -> list[str]:
        """Each problem under its field; returns the others, in words, for the page's list."""
        mine: dict[str, list[str]] = {}
        rest = []
        for problem in problems:
            key, text = split(problem)
            if key in self.fields:
                mine.setdefault(key, []).append(text[:1].upper() + text[1:])
            else:
                rest.append(in_words(problem, self.labels))
        for key, (field, error) in self.fields.items():
            texts = mine.get(key, [])
            error.setText("\n".join(texts))
            error.setVisible(bool(texts))
            mark(field, bool(texts))
        return rest
