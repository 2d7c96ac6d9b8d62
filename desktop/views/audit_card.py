"""The Overview's Audit card: one line saying what the configuration audit found, and a button
to the Audit page. Hidden while there is nothing to say (no project with workers audited yet).

Data in: :meth:`show_reports` (``Report.to_dict()`` per project, from the audit service).
Request out: ``openRequested``, which the window turns into a switch to the Audit page.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


class AuditCard(QFrame):
    openRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("auditCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.open_button = QPushButton("Open Audit…")
        self.open_button.clicked.connect(self.openRequested)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 10, 6)
        row.addWidget(self.summary, 1)
        row.addWidget(self.open_button)
        self.setVisible(False)

    def show_reports(self, reports: list[dict[str, Any]]) -> None:
        findings = [f for r in reports for f in r.get("findings") or []]
        counts = {s: sum(f["severity"] == s for f in findings) for s in ("critical", "warning")}
        if not reports:
            self.setVisible(False)
            return
        if not findings:
            text = "Audit: the Celery settings fit what the tasks measured."
        else:
            parts = [f"{n} {s}" for s, n in counts.items() if n]
            first = findings[0]  # most severe first
            text = f"Audit: {', '.join(parts) or f'{len(findings)} finding(s)'} — {first['title']}"
        errors = [r["project"] for r in reports if r.get("error")]
        if errors:
            text += f" (could not read {', '.join(errors)})"
        self.summary.setText(text)
        self.setProperty("severity", "critical" if counts["critical"] else "")
        self.setVisible(True)


def add_audit_card(layout: QVBoxLayout) -> AuditCard:
    """The Overview's one hook: the card, added to its column."""
    card = AuditCard()
    layout.addWidget(card)
    return card
