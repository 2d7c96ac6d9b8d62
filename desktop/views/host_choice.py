"""The Host choice of the Start and project dialogs: this machine first, then each host the
fleet has heard (``host list --json`` rows). A host whose agent is offline, or every host while
this panel has no fleet key, stays listed but greyed, its tooltip saying why: the user sees the
host exists and what to fix, instead of a host that silently is not there."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox

THIS_MACHINE = "This machine"
OFFLINE = "its agent is offline (not heard lately)"


def add_hosts(combo: QComboBox, rows: Sequence[Mapping[str, Any]], block: str = "") -> None:
    """Append each host of ``rows`` not yet in ``combo`` (item data: its name); ``block``: why
    no host can be commanded (no fleet key), "" when they can."""
    model = combo.model()
    for row in rows:
        name = str(row.get("name", ""))
        if not name or combo.findData(name) >= 0:
            continue
        combo.addItem(name, name)
        index = combo.count() - 1
        why = block or ("" if row.get("online") else OFFLINE)
        cores = row.get("cores")
        tip = why or f"agent online{f', {cores} cores' if cores else ''}"
        combo.setItemData(index, tip, Qt.ItemDataRole.ToolTipRole)
        if why:
            combo.setItemText(index, f"{name} ({'no key' if block else 'offline'})")
            model.item(index).setEnabled(False)  # type: ignore[attr-defined]


def usable(combo: QComboBox, index: int | None = None) -> bool:
    """Whether the (current) item can be picked: not greyed by ``add_hosts``."""
    index = combo.currentIndex() if index is None else index
    item = combo.model().item(index)  # type: ignore[attr-defined]
    return index >= 0 and item is not None and item.isEnabled()


def block_hint(block: str) -> str:
    """Under the Host choice while this machine is picked and the other hosts are greyed."""
    return f"Other hosts cannot be picked: {block.split(':')[0]} (watch only)."
