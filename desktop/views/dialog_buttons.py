"""Enter in a dialog's field means its main button, never Cancel.

A QPushButton in a dialog is *auto-default*: while it has focus it becomes the default button,
and it stays so. When the main button is disabled (a field is wrong) Qt moves the focus on,
often to Cancel, which then remains the default: the next Enter in a field closed the dialog and
threw away what was typed (seen in the invoice dialog under load). Only the main button may be
the default; with it disabled, Enter does nothing.
"""

from __future__ import annotations

from PySide6.QtWidgets import QDialogButtonBox, QPushButton


def enter_means(main: QPushButton, buttons: QDialogButtonBox) -> None:
    """Make ``main`` the one default button of ``buttons``' dialog."""
    for button in buttons.buttons():
        if isinstance(button, QPushButton) and button is not main:
            button.setAutoDefault(False)
            button.setDefault(False)
    main.setAutoDefault(True)
    main.setDefault(True)
