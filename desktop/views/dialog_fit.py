"""A dialog grows when a wrapped line appears in it (a hint, a check's report, an error).

Qt sizes a top-level dialog from its layout's minimum size, and a word-wrapped label's height
depends on its width (height-for-width), which that minimum does not count. So a three-line
hint shown after the dialog opened squeezed the form: rows overlapped (the project dialog's
"Paths on web-2…" hint ran its checkbox into the Extra env box). Grown, never shrunk below what
the user chose.
"""

from __future__ import annotations

from PySide6.QtWidgets import QWidget


def grow_to_fit(dialog: QWidget) -> None:
    layout = dialog.layout()
    if layout is None:
        return
    layout.activate()
    width = dialog.width()
    wanted = dialog.heightForWidth(width) if dialog.hasHeightForWidth() else -1
    wanted = max(wanted, dialog.minimumSizeHint().height())
    if wanted > dialog.height():
        dialog.resize(width, wanted)
