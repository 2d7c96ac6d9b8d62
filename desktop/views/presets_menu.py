"""Workers ▸ Start from preset: the menu of presets, each one click from a started worker.

Each preset on its own ``host`` (Settings ▸ Presets) if it names one, else here: the host is
pre-selected, not imposed. "On this machine" (while a preset names a host) and, while fleet
hosts are online and commands can be sent, "On HOST" offer every preset again. A preset whose
host cannot take it now (offline, not heard, no fleet key) is greyed with the reason, as the
Start dialog greys such a host; under "On HOST" (or "On this machine") a preset whose project
is registered elsewhere is greyed with the Start dialog's sentence. The menu only says which
preset and where (``startWanted``); the Workers page picks the free name and sends the request.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QWidget

from pooldesk.backend.workers import presets as presets_mod

THIS_MACHINE = "On this machine"


class PresetsMenu(QMenu):
    # preset index; host: None (the preset's own), "" (this machine) or a fleet host
    startWanted = Signal(int, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Start from &preset", parent)
        self.setToolTipsVisible(True)  # a greyed entry says why
        self.presets: list[dict[str, Any]] = []
        self._hosts: list[dict[str, Any]] = []  # the fleet's host rows
        self._block = ""  # why fleet commands cannot be sent ("" when they can)
        self._key: tuple[list[str], list[tuple[str, str]]] | None = None  # what it offers

    def set_presets(self, presets: list[dict[str, Any]]) -> None:
        self.presets = [dict(p) for p in presets]
        self._fill()

    def set_fleet(self, hosts: list[dict[str, Any]], block: str) -> None:
        """The fleet's hosts and why commands are off; the menu is rebuilt only when what it
        offers changes (not on every host sample: an open menu would change under the
        pointer)."""
        self._hosts, self._block = [dict(r) for r in hosts], block
        if self._offer() != self._key:
            self._fill()

    def online(self) -> list[str]:
        """The hosts a preset can be started on now."""
        return [] if self._block else [str(r["name"]) for r in self._hosts if r.get("online")]

    def _offer(self) -> tuple[list[str], list[tuple[str, str]]]:
        online = self.online()
        named = {presets_mod.host_of(p) for p in self.presets} - {""}
        return online, sorted((h, self._unreachable(h)) for h in named if h not in online)

    def _unreachable(self, host: str) -> str:
        """Why a preset for ``host`` cannot start there now."""
        if self._block:
            return f"no fleet key: {self._block}"
        if any(r.get("name") == host for r in self._hosts):
            return f"offline: the agent of {host} does not answer"
        return f"not heard: no agent called {host} has announced itself"

    def _fill(self) -> None:
        self.clear()
        self._key = self._offer()
        online = self.online()
        for index, preset in enumerate(self.presets):
            text = presets_mod.label(preset)
            host = presets_mod.host_of(preset)
            action = self.addAction(f"{text} on {host}" if host else text)
            action.setData([index, None])
            action.triggered.connect(self._triggered)
            if host and host not in online:
                why = self._unreachable(host)
                action.setText(f"{action.text()} ({why.split(':')[0]})")
                action.setToolTip(why)
                action.setEnabled(False)
        named = any(map(presets_mod.host_of, self.presets))
        elsewhere = [("", THIS_MACHINE)] if named else []
        elsewhere += [(host, f"On {host}") for host in online]
        if elsewhere and self.presets:
            self.addSeparator()
        for host, title in elsewhere:
            menu = self.addMenu(title)
            menu.setToolTipsVisible(True)
            for index, preset in enumerate(self.presets):
                action = menu.addAction(presets_mod.label(preset))
                action.setData([index, host])
                action.triggered.connect(self._triggered)
                why = presets_mod.elsewhere(preset, host)  # its project is another host's
                if why:
                    action.setText(f"{action.text()} (not registered there)")
                    action.setToolTip(why)
                    action.setEnabled(False)

    def _triggered(self) -> None:
        action = self.sender()
        if isinstance(action, QAction):
            index, host = action.data()
            self.startWanted.emit(int(index), None if host is None else str(host))
