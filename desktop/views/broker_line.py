"""The status bar's broker line: a coloured dot and one line (where, up or down, the queues),
with the whole status in its tooltip. Shown on every page, fed by the worker service's
``brokerChanged``; the password is masked before it gets here (``BrokerStatus.url``).

A QObject (child of the status bar), not a plain class: PySide connects a service's signal to a
plain object's bound method through a functor whose context is the *sender*, so the slot ran in
the worker service's thread and painted widgets from there (a deadlock with the GUI thread, or
a crash; see ``desktop/services/base.py``). A QObject's method is queued into its own thread."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QLabel, QMessageBox, QStatusBar

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
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
        self.label.setAccessibleName("Broker status")
        self.label.linkActivated.connect(self._details)
        self.projects = QLabel()  # each project's own broker in use: "proyecto: up, 26 waiting"
        self.projects.setObjectName("projectBrokers")
        self.projects.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
        self.projects.setAccessibleName("Project brokers")
        self.projects.linkActivated.connect(self._details)
        self.projects.setVisible(False)
        self.details: dict[str, tuple[str, str]] = {}  # link → (title, text)
        self._local: list[tuple[str, BrokerStatus]] = []
        self._hosted: list[tuple[str, BrokerStatus]] = []
        self.box: QMessageBox | None = None
        bar.addPermanentWidget(self.projects)
        bar.addPermanentWidget(self.dot)
        bar.addPermanentWidget(self.label)

    def show_status(self, status: BrokerStatus) -> None:
        self.details["managed"] = ("Pooldesk's broker", broker_tooltip(status))
        self.label.setText(_link("managed", broker_line(status), self.label))
        self.label.setToolTip(broker_tooltip(status) + "\n\nClick for details.")
        state = "up" if status.up else "down"
        colour = resources.state_color("online" if status.up else "crashed").name()
        self.dot.setPixmap(resources.dot(colour).pixmap(10, 10))
        if self.label.property("state") != state:
            self.label.setProperty("state", state)
            self.label.style().unpolish(self.label)  # re-match QLabel#brokerStatus[state=…]
            self.label.style().polish(self.label)

    def show_projects(self, found: list[tuple[str, BrokerStatus]]) -> None:
        """Each local project's own broker with its state and backlog (worker service)."""
        self._local = found
        self._render()

    def show_host_projects(self, found: list[tuple[str, BrokerStatus]]) -> None:
        """Each host project's own broker, as its agent sampled it ("shop on web-2"; fleet
        service): kept apart from the local ones, so neither feed wipes the other's."""
        self._hosted = found
        self._render()

    def _render(self) -> None:
        """Each project's own broker with its state and backlog; a click opens its details."""
        parts = []
        self.details = {k: v for k, v in self.details.items() if k == "managed"}
        for project, status in [*self._local, *self._hosted]:
            key = f"project:{project}"
            self.details[key] = (f"Broker of project {project}", broker_tooltip(status))
            waiting = sum(status.queues.values())
            silent = bool(status.error and status.error.startswith("host "))
            state = f"{waiting:,} waiting" if status.up else "unreachable" if silent else "down"
            parts.append(_link(key, f"{project}: {state}", self.projects))
        self.projects.setText(" · ".join(parts))
        self.projects.setToolTip(
            "\n\n".join(text for key, (_t, text) in self.details.items() if key != "managed")
        )
        self.projects.setVisible(bool(parts))

    def _details(self, key: str) -> None:
        title, text = self.details.get(key, ("Broker", "no status yet"))
        if self.box is not None:
            self.box.close()
        parent = self.label.window()
        self.box = QMessageBox(QMessageBox.Icon.Information, title, text, parent=parent)
        self.box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.box.destroyed.connect(self._box_closed)
        self.box.open()

    def _box_closed(self) -> None:
        self.box = None


def _link(key: str, text: str, label: QLabel) -> str:
    """Plain-looking text that is a link (the status bar has no room for a button), in the
    label's own colour (red when the broker is down, light on a dark palette)."""
    colour = label.palette().color(QPalette.ColorRole.WindowText).name()
    span = f'<span style="color: {colour}">{html.escape(text)}</span>'
    return f'<a href="{key}" style="text-decoration: none">{span}</a>'
