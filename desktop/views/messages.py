"""How forms show what is wrong: bullet lists in labels that hide when empty, and dialogs that
grow to show every line (wrapped labels need height-for-width, which a dialog does not ask
for by itself). One place, so every form in the window reads and resizes the same way."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QLabel


def show_list(label: QLabel, items: list[str]) -> None:
    """``• first\\n• second`` in ``label``, hidden when there is nothing to say."""
    label.setText("\n".join(f"• {item}" for item in items))
    label.setVisible(bool(items))


def fit_height(dialog: QDialog, min_width: int) -> None:
    """Grow (or shrink) ``dialog`` to show every message line at its current width."""
    layout = dialog.layout()
    if layout is None:
        return
    if layout.hasHeightForWidth():
        dialog.setMinimumHeight(layout.totalHeightForWidth(max(dialog.width(), min_width)))
    else:
        dialog.setMinimumHeight(layout.totalMinimumSize().height())
