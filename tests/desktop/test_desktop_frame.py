"""A stable frame: the sidebar and the page header are in the same place on every page, with or
without a toolbar, and a warnings banner appearing or going moves nothing under the pointer
(pages with a toolbar pushed the sidebar 47 px down: a click on "Workers" opened Batches)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from pooldesk.backend.advisor.model import Advice
from pooldesk.desktop import resources
from pooldesk.desktop.settings_hub import SettingsHub
from pooldesk.desktop.views.main_window import MainWindow
from pooldesk.desktop.views.tasks_page import TasksPage


@pytest.fixture
def window(home: Path, qtbot: QtBot) -> Iterator[MainWindow]:
    tasks = TasksPage()
    win = MainWindow(SettingsHub(), tasks)
    qtbot.addWidget(win)
    win.setStyleSheet(resources.stylesheet())
    win.resize(1366, 768)
    win.show()
    qtbot.waitExposed(win)
    yield win
    tasks.shutdown()


def on_window(win: MainWindow, widget: QWidget) -> QRect:
    return QRect(widget.mapTo(win, QPoint(0, 0)), widget.size())


def advice(severity: str = "warning") -> Advice:
    return Advice(
        id="w1:cpu_under_gevent",
        rule="cpu_under_gevent",
        severity=severity,
        title="CPU-bound queue billing on gevent",
        text="...",
        evidence={},
        fix=None,
    )


def test_sidebar_and_header_are_in_the_same_place_on_every_page(window: MainWindow) -> None:
    places = {}
    for row in range(window.nav.count()):
        window.nav.setCurrentRow(row)
        QApplication.processEvents()
        title = window.nav.item(row).text()
        places[title] = (
            on_window(window, window.nav),
            on_window(window, window.header),
            on_window(window, window.pages).top(),
            window.nav.visualItemRect(window.nav.item(1)),
        )
        assert window.page_title.text() == title
    assert len(set(places.values())) == 1, places
    # Pages with and without a toolbar were both among them.
    window.nav.setCurrentRow(window.pages.indexOf(window.workers_page))
    assert window.toolbar.isVisible()
    window.nav.setCurrentRow(window.pages.indexOf(window.settings_page))
    assert not window.toolbar.isVisible()


def test_a_banner_appearing_moves_no_content(window: MainWindow) -> None:
    window.nav.setCurrentRow(window.pages.indexOf(window.workers_page))
    QApplication.processEvents()
    before = on_window(window, window.pages), on_window(window, window.nav)
    window.banner.set_advice([advice("critical")])
    QApplication.processEvents()
    assert window.banner.isVisible()
    assert (on_window(window, window.pages), on_window(window, window.nav)) == before
    toolbar_right = on_window(window, window.toolbar).right()
    assert on_window(window, window.banner).left() > toolbar_right  # beside, not over, buttons
    window.banner.set_advice([])
    QApplication.processEvents()
    assert (on_window(window, window.pages), on_window(window, window.nav)) == before


def test_page_messages_appear_under_their_tables(window: MainWindow) -> None:
    """The Batches page's problem line and the Tasks page's action message appear below their
    tables, so no row moves under the pointer when they come and go."""
    batches = window.batches_page
    window.nav.setCurrentRow(window.pages.indexOf(batches))
    QApplication.processEvents()
    before = on_window(window, batches.stack).top()
    batches.set_problem("Batch 02fcc789 waits: no running worker consumes orchestration.")
    QApplication.processEvents()
    assert batches.problem_label.isVisible()
    assert on_window(window, batches.stack).top() == before
    tasks = window.tasks_page
    window.nav.setCurrentRow(window.pages.indexOf(tasks))
    QApplication.processEvents()
    table_top = on_window(window, tasks.table).top()
    tasks._action_finished(True, "Sent shop.tasks.invoice(17) to queue billing as task 1234.")
    QApplication.processEvents()
    assert tasks.message_label.isVisible()
    assert on_window(window, tasks.table).top() == table_top
