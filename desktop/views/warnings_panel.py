"""The advisor's warnings: a panel of cards (Overview page) and a one-line banner (every page).

A card shows the severity, the title, the plain-words text, the evidence as ``label: value``
chips (rounded, with units; each chip's tooltip has the exact key and value of ``pooldesk advise
--json``) and, when the advice carries a fix, a **Fix…** button. The button asks first, showing
the fix's ``confirm`` text exactly, then emits :attr:`WarningsPanel.fixRequested`; the window
sends that to the WorkerController. Cards are updated in place by advice id, so a card does not
flicker (or lose the button under the mouse) when the evidence changes every second.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from pooldesk.backend.advisor.model import Advice
from pooldesk.backend.advisor.phrases import MAX_PHRASES, phrase, phrases
from pooldesk.backend.advisor.phrases import rows as evidence_rows
from pooldesk.desktop.views.fix_confirm import ask_fix, confirmed
from pooldesk.desktop.views.flow_layout import FlowLayout

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
SEVERITY_ICON = {
    "critical": QStyle.StandardPixmap.SP_MessageBoxCritical,
    "warning": QStyle.StandardPixmap.SP_MessageBoxWarning,
    "info": QStyle.StandardPixmap.SP_MessageBoxInformation,
}
MAX_CHIPS = MAX_PHRASES


def chip_text(key: str, value: Any, evidence: dict[str, Any] | None = None) -> str | None:
    """``("loop_lag_ms_max", 35012.6)`` → ``"loop lag up to 35.0 s"``; None leaves it out.
    The words come from ``backend/advisor/phrases.py`` (the CLI says the same)."""
    return phrase(key, value, evidence)


def evidence_table(evidence: dict[str, Any]) -> str:
    """The chips' tooltip: every evidence key with its value, as ``advise --json`` has it."""
    cells = "".join(
        f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(v)}</td></tr>"
        for k, v in evidence_rows(evidence)
    )
    return f"<table>{cells}</table><p><i>pooldesk advise --json has the raw figures.</i></p>"


def severity_icon(widget: QWidget, severity: str, size: int) -> Any:
    pixmap = SEVERITY_ICON.get(severity, QStyle.StandardPixmap.SP_MessageBoxInformation)
    return widget.style().standardIcon(pixmap).pixmap(size, size)


class AdviceCard(QFrame):
    fixClicked = Signal(str)  # advice id

    def __init__(self, advice: Advice, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("adviceCard")
        self.advice = advice
        self.icon = QLabel()
        self.icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.title = QLabel()
        self.title.setObjectName("adviceTitle")
        self.text = QLabel()
        self.text.setObjectName("adviceText")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.chips = FlowLayout(spacing=4)  # wraps: a long list never widens the page
        self.fix_button = QPushButton("Fix…")
        self.fix_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.fix_button.clicked.connect(self._emit_fix)
        self._chip_labels: list[QLabel] = []

        body = QVBoxLayout()
        body.setSpacing(3)
        body.addWidget(self.title)
        body.addWidget(self.text)
        body.addLayout(self.chips)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 8, 10, 8)
        row.setSpacing(10)
        row.addWidget(self.icon)
        row.addLayout(body, 1)
        row.addWidget(self.fix_button, 0, Qt.AlignmentFlag.AlignTop)
        self.update_advice(advice, pending=None)

    def update_advice(self, advice: Advice, pending: str | None) -> None:
        """``pending``: None, "running" (fix in progress) or "done" (waiting to clear)."""
        self.advice = advice
        self.setProperty("severity", advice.severity)
        self.style().unpolish(self)
        self.style().polish(self)
        self.icon.setPixmap(severity_icon(self, advice.severity, 22))
        self.title.setText(advice.title)
        self.text.setText(advice.text)
        self._set_chips(advice.evidence)
        fix = advice.fix
        self.fix_button.setVisible(fix is not None)
        if fix is not None:
            self.fix_button.setToolTip(fix.confirm)
            self.fix_button.setEnabled(pending is None)
            self.fix_button.setText(
                {"running": "Fixing…", "done": "Fixed"}.get(pending or "", "Fix…")
            )

    def _emit_fix(self) -> None:
        self.fixClicked.emit(self.advice.id)

    def chip_texts(self) -> list[str]:
        return [c.text() for c in self._chip_labels if not c.isHidden()]

    def _set_chips(self, evidence: dict[str, Any]) -> None:
        shown = [text for _key, text in phrases(evidence, MAX_CHIPS)]
        tip = evidence_table(evidence)
        while len(self._chip_labels) < len(shown):
            chip = QLabel()
            chip.setObjectName("evidenceChip")
            self.chips.addWidget(chip)
            self._chip_labels.append(chip)
        for i, label in enumerate(self._chip_labels):
            label.setText(shown[i] if i < len(shown) else "")
            label.setToolTip(tip if i < len(shown) else "")
            label.setVisible(i < len(shown))


class WarningsPanel(QFrame):
    fixRequested = Signal(object)  # Fix, confirmed by the user

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("warningsPanel")
        self.cards: dict[str, AdviceCard] = {}
        self._pending: dict[str, str] = {}  # advice id → "running" | "done"
        self.confirm_box: QMessageBox | None = None
        self._asked: str | None = None  # the advice whose fix the open question is about
        self.empty_label = QLabel("No warnings: every queue runs on a pool that fits its work.")
        self.empty_label.setObjectName("hint")
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)
        self._layout.addWidget(self.empty_label)

    def set_advice(self, advice: list[Advice]) -> None:
        ordered = sorted(advice, key=lambda a: (SEVERITY_ORDER.get(a.severity, 3), a.id))
        wanted = {a.id for a in ordered}
        for advice_id in [i for i in self.cards if i not in wanted]:
            card = self.cards.pop(advice_id)
            self._pending.pop(advice_id, None)
            card.hide()
            card.deleteLater()
        for position, item in enumerate(ordered):
            card = self.cards.get(item.id)
            if card is None:
                card = self.cards[item.id] = AdviceCard(item, self)
                card.fixClicked.connect(self._fix_clicked)
            card.update_advice(item, self._pending.get(item.id))
            if self._layout.indexOf(card) != position + 1:
                self._layout.insertWidget(position + 1, card)
        self.empty_label.setVisible(not ordered)

    def card(self, rule: str) -> AdviceCard | None:
        return next((c for c in self.cards.values() if c.advice.rule == rule), None)

    def _fix_clicked(self, advice_id: str) -> None:
        """Ask first (window-modal, non-blocking); the box shows ``fix.confirm`` exactly."""
        card = self.cards.get(advice_id)
        if card is None or card.advice.fix is None or self.confirm_box is not None:
            return
        self._asked = advice_id
        box = ask_fix(self, card.advice.fix)
        box.finished.connect(self._confirm_finished)
        self.confirm_box = box
        box.open()

    def _confirm_finished(self, _result: int) -> None:
        box, self.confirm_box = self.confirm_box, None
        advice_id, self._asked = self._asked, None
        if not confirmed(box) or advice_id is None:
            return
        card = self.cards.get(advice_id)
        if card is None or card.advice.fix is None:
            return  # the warning cleared while the box was open
        self._pending[advice_id] = "running"
        card.update_advice(card.advice, "running")
        self.fixRequested.emit(card.advice.fix)

    def fix_finished(self, ok: bool) -> None:
        """A fix ended: on success the card waits, disabled, for the advisor to clear it."""
        for advice_id, state in list(self._pending.items()):
            if state != "running":
                continue
            if ok:
                self._pending[advice_id] = "done"
            else:
                del self._pending[advice_id]
            card = self.cards.get(advice_id)
            if card is not None:
                card.update_advice(card.advice, self._pending.get(advice_id))


class WarningsBanner(QFrame):
    """One line above every page: how many warnings, the worst one, and a Show link."""

    showRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("warningsBanner")
        self.icon = QLabel()
        self.label = QLabel()
        self.label.setObjectName("bannerText")
        self.link = QLabel('<a href="#show">Show</a>')
        self.link.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
        self.link.linkActivated.connect(self._link_activated)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 4, 10, 4)
        row.addWidget(self.icon)
        row.addWidget(self.label, 1)
        row.addWidget(self.link)
        self.advice: list[Advice] = []
        self.suppressed = False  # the Overview page shows the full panel: no banner there
        self.setVisible(False)

    def set_advice(self, advice: list[Advice]) -> None:
        """Counts only what holds now: a cleared warning kept against flapping is not one
        (a batch's "cannot progress" stayed red beside "completed 1/1 chunks")."""
        live = [a for a in advice if not a.fading]
        self.advice = sorted(live, key=lambda a: SEVERITY_ORDER.get(a.severity, 3))
        if self.advice:
            worst = self.advice[0]
            count = len(self.advice)
            noun = "warning" if count == 1 else "warnings"
            self.label.setText(f"<b>{count} {noun}</b> — {worst.title}")
            self.setToolTip(f"{count} {noun}; the worst: {worst.title}")  # the text may be cut
            self.icon.setPixmap(severity_icon(self, worst.severity, 16))
            if self.property("severity") != worst.severity:
                self.setProperty("severity", worst.severity)
                self.style().unpolish(self)
                self.style().polish(self)
        self._update_visible()

    def _link_activated(self, _href: str) -> None:
        self.showRequested.emit()

    def set_suppressed(self, suppressed: bool) -> None:
        self.suppressed = suppressed
        self._update_visible()

    def _update_visible(self) -> None:
        self.setVisible(bool(self.advice) and not self.suppressed)
