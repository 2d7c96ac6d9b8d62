"""The Start dialog's defaults for a user's project with a CPU-bound queue (``billing``) and an
I/O queue (``checks``): under each pool it proposes only the queues that pool runs well, says
what it left out and why, pre-selects the Pool fit table's recommendation, remembers the last
project and proposes a free name. And the stray popup: after ticking "Advanced worker options"
no empty popup is left on screen, so the first click on Start starts."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialog
from pytestqt.qtbot import QtBot

from pooldesk.backend.fit.table import QueueFit
from pooldesk.backend.projects.check import CheckResult
from pooldesk.backend.projects.model import Project
from pooldesk.backend.projects.store import ProjectStore
from pooldesk.desktop.views.start_dialog import StartDialog


@pytest.fixture
def shop(home: Path, tmp_path: Path) -> str:
    """A saved, checked project: ``billing`` declares nature cpu, ``checks`` nature io."""
    store = ProjectStore()
    store.add(Project("shop", sys.executable, str(tmp_path), "shop.celery:app"))
    store.save_check(
        "shop",
        CheckResult(
            ok=True,
            python="3.11.7",
            celery="5.4.0",
            broker_url="redis://127.0.0.1:1/5",
            default_queue="celery",
            tasks=[
                {"name": "shop.tasks.invoice", "queue": "billing", "nature": "cpu"},
                {"name": "shop.tasks.ping", "queue": "checks", "nature": "io"},
            ],
            pools={"prefork": None, "gevent": None, "threads": None, "solo": None},
        ),
    )
    return "shop"


def fit_row(queue: str, nature: str, **kw: object) -> QueueFit:
    values: dict = dict(  # type: ignore[type-arg]
        queue=queue,
        nature=nature,
        runs=12,
        cpu_share=None,
        hold_share=None,
        mean_wall_s=1.0,
        hold_max_s=None,
        measured_on="prefork",
        basis="measured",
        declared=None,
        workers=[],
        verdict="fits",
        severity=None,
        recommendation="",
    )
    values.update(kw)
    return QueueFit(**values)  # type: ignore[arg-type]


def dialog_for(qtbot: QtBot, **kw: object) -> StartDialog:
    dialog = StartDialog(**kw)  # type: ignore[arg-type]
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


@pytest.mark.parametrize(
    ("pool", "queues", "left_out"),
    [
        ("prefork", "billing", "checks waits on I/O"),
        ("gevent", "checks", "billing CPU-bound"),
        ("threads", "checks", "billing CPU-bound"),
        ("solo", "billing, checks", ""),
    ],
)
def test_queues_proposed_by_declared_nature_for_each_pool(
    qtbot: QtBot, shop: str, pool: str, queues: str, left_out: str
) -> None:
    dialog = dialog_for(qtbot, project=shop)
    assert dialog.project_combo.project() == "shop"  # the project asked for is picked
    dialog.pool_combo.setCurrentText(pool)
    assert dialog.queues_edit.text() == queues
    assert left_out in dialog.queues_hint.text()
    assert dialog.name_edit.text() == f"{queues.split(',')[0]}-1"
    assert dialog.ok_button.isEnabled(), dialog.problems_label.text()


def test_measured_nature_beats_the_declared_one_and_gevent_never_gets_blocking(
    qtbot: QtBot, shop: str
) -> None:
    # Measured: checks blocks the loop (a driver gevent cannot patch), though declared io.
    rows = [fit_row("checks", "blocking", measured_on="gevent")]
    dialog = dialog_for(qtbot, project=shop, fit_rows=rows)
    dialog.pool_combo.setCurrentText("gevent")
    assert dialog.queues_edit.text() == ""
    hint = dialog.queues_hint.text()
    assert "billing CPU-bound (declared)" in hint and "checks blocks the event loop" in hint
    assert not dialog.ok_button.isEnabled()  # and it says why, beside the others
    assert "type at least one queue" in dialog.problems_label.text()


def test_the_pool_fit_recommendation_is_pre_selected(qtbot: QtBot, shop: str) -> None:
    rows = [
        fit_row(
            "checks", "io", verdict="trial", recommended_pool="gevent", recommended_concurrency=40
        ),
    ]
    dialog = dialog_for(qtbot, project=shop, fit_rows=rows)
    assert dialog.pool_combo.currentText() == "gevent"
    assert dialog.concurrency_spin.value() == 40
    assert dialog.queues_edit.text() == "checks"
    assert "billing" not in dialog.queues_edit.text()


def test_a_typed_queue_and_name_are_kept_when_the_pool_changes(qtbot: QtBot, shop: str) -> None:
    dialog = dialog_for(qtbot, project=shop, existing={"billing-1": "online"})
    assert dialog.name_edit.text() == "billing-2"  # billing-1 is taken
    dialog.queues_edit.clear()
    qtbot.keyClicks(dialog.queues_edit, "billing, checks")
    dialog.name_edit.clear()
    qtbot.keyClicks(dialog.name_edit, "mine")
    dialog.pool_combo.setCurrentText("gevent")
    assert dialog.queues_edit.text() == "billing, checks"  # the user's choice, not replaced
    assert dialog.name_edit.text() == "mine"


def test_the_workers_page_remembers_the_last_project(qtbot: QtBot, shop: str) -> None:
    from pooldesk.desktop.views.workers_page import WorkersPage

    page = WorkersPage()
    qtbot.addWidget(page)
    page.open_start_dialog()
    first = page.start_dialog
    assert first is not None and first.project_combo.project() is None  # nothing started: demo
    first.project_combo.setCurrentIndex(first.project_combo.findData("shop"))
    with qtbot.waitSignal(page.startRequested, timeout=5000) as started:
        qtbot.mouseClick(first.ok_button, Qt.MouseButton.LeftButton)
    assert started.args[0].project == "shop"
    page.open_start_dialog()
    again = page.start_dialog
    assert again is not None
    assert again.project_combo.project() == "shop"
    again.reject()


def visible_popups(dialog: QDialog) -> list[str]:
    return [
        type(w).__name__
        for w in QApplication.topLevelWidgets()
        if w.isVisible() and w is not dialog and w.windowFlags() & Qt.WindowType.Popup
    ]


def test_ticking_advanced_leaves_no_popup_and_the_first_click_starts(qtbot: QtBot) -> None:
    dialog = dialog_for(qtbot)
    assert visible_popups(dialog) == []
    dialog.advanced.setChecked(True)
    assert dialog.advanced.loglevel_combo.isVisible()
    assert visible_popups(dialog) == []  # was: QComboBoxPrivateContainer, 22×22, top-left
    dialog.advanced.setChecked(False)
    dialog.advanced.setChecked(True)
    assert visible_popups(dialog) == []
    with qtbot.waitSignal(dialog.accepted, timeout=5000):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)


def test_the_demo_proposes_its_cpu_queue_for_prefork_and_its_io_queue_for_gevent(
    qtbot: QtBot, home: Path
) -> None:
    dialog = dialog_for(qtbot)
    assert dialog.project_combo.project() is None
    assert dialog.pool_combo.currentText() == "prefork"
    assert (dialog.queues_edit.text(), dialog.name_edit.text()) == ("invoices", "invoices-1")
    dialog.pool_combo.setCurrentText("gevent")
    assert (dialog.queues_edit.text(), dialog.name_edit.text()) == ("monitoring", "monitoring-1")
    assert "invoices CPU-bound (declared)" in dialog.queues_hint.text()
