"""The status bar's broker line: a coloured dot and one line (where, up or down, the queues),
with the whole status in its tooltip. Shown on every page, fed by the worker service's
``brokerChanged``; the password is masked before it gets here (``BrokerStatus.url``).

A QObject (child of the status bar), not a plain class: PySide connects a service's signal to a
plain object's bound method through a functor whose context is the *sender*, so the slot ran in
the worker service's thread and painted widgets from there (a deadlock with the GUI thread, or
a crash; see ``desktop/services/base.py``). A QObject's method is queued into its own thread."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QLabel, QStatusBar

from pooldesk.desktop import resources
from pooldesk.desktop.formatting import broker_line, broker_tooltip

if TYPE_CHECKING:  # the broker package imports redis and kombu: not before the first paint
    from pooldesk.backend.broker.status import BrokerStatus


class BrokerLine(QObject):
    def __init__(self, bar: QStatusBar) -> None:
        super().__init__(bar)
        self.dot = QLabel()
        self.label = QLabel("Broker: connecting…")
        self.label.setObjectName("brokerStatus")  # style.qss colours it by its state
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bar.addPermanentWidget(self.dot)
        bar.addPermanentWidget(self.label)

    def show_status(self, status: BrokerStatus) -> None:
        self.label.setText(broker_line(status))
        self.label.setToolTip(broker_tooltip(status))
        state = "up" if status.up else "down"
        colour = resources.state_color("online" if status.up else "crashed").name()
        self.dot.setPixmap(resources.dot(colour).pixmap(10, 10))
        if self.label.property("state") != state:
            self.label.setProperty("state", state)
            self.label.style().unpolish(self.label)  # re-match QLabel#brokerStatus[state=…]
            self.label.style().polish(self.label)
