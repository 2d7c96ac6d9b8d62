"""The tray icon and notifications: a batch that ends, or a serious warning that appears, is
said in a tray balloon where the desktop has a tray, and in the status bar where it has none.

Kept apart from the window because it is about reaching the user while the window may be
hidden; the composition root connects ``batchFinished`` and ``adviceAppeared`` to it.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMainWindow, QSystemTrayIcon

from pooldesk.desktop import resources
from pooldesk.desktop.models.batches_model import done_total, duration, unit_of

MESSAGE_MS = 10_000


class Tray(QObject):
    notified = Signal(str, str)  # title, text: what the tray (or the status bar) just said

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.icon = self._make_icon()

    def _make_icon(self) -> QSystemTrayIcon | None:
        """A tray icon where the desktop has a tray (the offscreen platform has none)."""
        if not QSystemTrayIcon.isSystemTrayAvailable():
            return None
        icon = QSystemTrayIcon(resources.app_icon(), self.window)
        icon.setToolTip("Pooldesk")
        icon.activated.connect(self._activated)
        icon.show()
        return icon

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.window.showNormal()
            self.window.raise_()
            self.window.activateWindow()

    def notify(self, title: str, text: str, warning: bool = False) -> None:
        """A tray balloon where the desktop has a tray; without one, the status bar says it
        (a batch that ends while the window is open is never silent)."""
        if self.icon is not None and QSystemTrayIcon.supportsMessages():
            kind = (
                QSystemTrayIcon.MessageIcon.Warning
                if warning
                else QSystemTrayIcon.MessageIcon.Information
            )
            self.icon.showMessage(title, text, kind, MESSAGE_MS)
        else:
            self.window.statusBar().showMessage(f"{title}: {text}", MESSAGE_MS)
        self.notified.emit(title, text)

    def notify_batch(self, record: Any) -> None:
        """``Invoices batch 4fc19784 completed`` — ``12/12 chunks, 0 failed, in 46 s.``"""
        state = str(getattr(record, "state", "")).replace("_", " ")
        kind = str(getattr(record, "kind", "batch")).capitalize()
        counts = getattr(record, "counts", None) or {}
        detail = f"Batch {getattr(record, 'id', '')} is {state}."
        if counts.get("total"):
            done, total = done_total(record)
            began, ended = getattr(record, "started_at", None), getattr(record, "finished_at", None)
            took = f", in {duration(ended - began)}" if began and ended else ""
            failed = int(counts.get("failed", 0))
            detail = f"{done:,}/{total:,} {unit_of(record)}, {failed:,} failed{took}."
        self.notify(
            f"{kind} batch {str(getattr(record, 'id', ''))[:8]} {state}",
            detail,
            warning=state not in ("completed",),
        )

    def notify_advice(self, appeared: list[Any]) -> None:
        serious = [a for a in appeared if getattr(a, "severity", "") in ("warning", "critical")]
        if serious:
            first = serious[0]
            more = f" (+{len(serious) - 1} more)" if len(serious) > 1 else ""
            self.notify(f"Pooldesk: {first.title}{more}", first.text, warning=True)
