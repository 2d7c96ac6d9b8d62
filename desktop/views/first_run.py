"""The Overview's first screen: no project and no worker yet.

There is nothing to advise about then, so the Overview must not say "every queue runs on a pool
that fits its work"; it offers the two ways in instead — add your own project, or try the demo
(its presets, then a batch or the case study).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


class FirstRunCard(QFrame):
    addProjectRequested = Signal()
    demoRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("firstRun")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        title = QLabel("<b>Welcome to Pooldesk</b> — no project and no worker yet.")
        self.add_button = QPushButton("Add your project…")
        self.add_button.setDefault(True)
        self.demo_button = QPushButton("Try the demo")
        own = QLabel(
            "Your Celery app in its own virtualenv: pick its interpreter, working directory, "
            "app and env file. Pooldesk imports it once to list its tasks and queues, then "
            "runs its workers on its own broker."
        )
        demo = QLabel(
            "Starts the demo presets (invoices on prefork, URL checks on gevent, batch "
            "orchestration); then launch a batch from Batches, or run the case study "
            "(pooldesk compare-pools) to see why a CPU-bound queue does not belong on gevent."
        )
        for label in (own, demo):
            label.setWordWrap(True)
            label.setObjectName("hint")
        row = QHBoxLayout()
        for button, text in ((self.add_button, own), (self.demo_button, demo)):
            column = QVBoxLayout()
            column.addWidget(button, 0, Qt.AlignmentFlag.AlignLeft)
            column.addWidget(text)
            column.addStretch(1)
            row.addLayout(column, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addLayout(row)
        self.add_button.clicked.connect(self.addProjectRequested)
        self.demo_button.clicked.connect(self.demoRequested)
