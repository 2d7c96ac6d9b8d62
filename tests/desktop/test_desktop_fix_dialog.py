"""One fix, one dialog: the warning card's Fix… and the Pool fit table's Fix… for the same fix
ask the same question (title, text, buttons), since both come from one builder
(``backend/advisor/fixbuild.py``) and one dialog (``desktop/views/fix_confirm.py``)."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QPushButton
from pytestqt.qtbot import QtBot

from pooldesk.backend.advisor import fixbuild
from pooldesk.backend.advisor.model import Advice
from pooldesk.backend.fit.table import QueueFit
from pooldesk.desktop.views.pool_fit import FIX_COLUMN, PoolFitTable
from pooldesk.desktop.views.warnings_panel import WarningsPanel


def question(box: QMessageBox | None) -> tuple[str, str, list[str]]:
    assert box is not None and box.isVisible()
    buttons = sorted(b.text() for b in box.buttons())
    return box.windowTitle(), box.text(), buttons


def test_the_card_and_the_table_ask_the_same_question_for_one_fix(qtbot: QtBot) -> None:
    fix = fixbuild.resize("billing-1", "prefork", 4, 2)
    panel = WarningsPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_advice(
        [
            Advice(
                "oversubscribed:billing-1@h", "prefork_oversubscribed", "info",
                "More CPU-bound processes than cores (billing-1)", "…", {}, fix,
            )
        ]
    )  # fmt: skip
    table = PoolFitTable()
    qtbot.addWidget(table)
    table.show()
    table.set_rows(
        [
            QueueFit(
                queue="billing", nature="cpu", runs=20, cpu_share=0.97, hold_share=None,
                mean_wall_s=1.0, hold_max_s=None, measured_on="prefork", basis="measured",
                declared=None, workers=["billing-1: prefork × 4"], verdict="resize",
                severity="info", recommendation="prefork × 2", fix=fix,
            )
        ]
    )  # fmt: skip

    card = panel.card("prefork_oversubscribed")
    assert card is not None
    qtbot.mouseClick(card.fix_button, Qt.MouseButton.LeftButton)
    from_card = question(panel.confirm_box)
    assert panel.confirm_box is not None
    panel.confirm_box.button(QMessageBox.StandardButton.Cancel).click()

    button = table.table.cellWidget(0, FIX_COLUMN)
    assert isinstance(button, QPushButton)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    from_table = question(table.confirm_box)
    assert from_card == from_table
    title, text, buttons = from_table
    assert title == "Resize worker" and buttons == ["Cancel", "Resize"]
    assert (
        text == "Shrink worker billing-1 from 4 to 2 processes, live: running tasks go on, "
        "nothing restarts."
    )
    assert table.confirm_box is not None
    with qtbot.waitSignal(table.fixRequested) as requested:
        table.confirm_box.button(QMessageBox.StandardButton.Ok).click()
    assert requested.args == [fix]
