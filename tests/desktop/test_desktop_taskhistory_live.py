"""The Tasks page on a live task history (a real broker, worker and recorder): a failure is
shown with its traceback and retried from the page, also after the window is opened again."""

from __future__ import annotations

from typing import Any

import pytest

from tests.taskhistory_live import Live, final


def _page_showing(qtbot: Any, task_id: str) -> Any:
    """A Tasks page (a window opened afresh) with ``task_id`` listed and selected."""
    from pooldesk.desktop.services.tasks import TasksController
    from pooldesk.desktop.views.tasks_page import TasksPage

    page = TasksPage(TasksController(manage_recorder=False))
    qtbot.addWidget(page)
    page.show()
    qtbot.waitUntil(lambda: page.model.row_of(task_id) >= 0, timeout=20_000)
    page.table.selectRow(page.model.row_of(task_id))
    qtbot.waitUntil(
        lambda: page.detail.data is not None and page.detail.data["id"] == task_id,
        timeout=20_000,
    )
    return page


def test_the_page_shows_a_failure_and_retries_it_after_a_window_restart(
    live: Live, qtbot: Any
) -> None:
    pytest.importorskip("PySide6")
    failed = live.send("taskapp.echo", 5, "page", fail=True)
    final(live, failed, "FAILURE")
    page = _page_showing(qtbot, failed)
    try:
        assert "ValueError: asked to fail" in page.detail.traceback.toPlainText()
    finally:
        page.shutdown()

    page = _page_showing(qtbot, failed)  # the window opened again: the same history
    try:
        page.confirm = lambda title, text: True
        page.retry_button.click()
        qtbot.waitUntil(lambda: page.last_message.startswith("Sent"), timeout=30_000)
        new_id = page.last_message.rsplit(" ", 1)[-1].rstrip(".")
        again = final(live, new_id, "FAILURE")
        assert again["args"] == "(5, 'page')"
        qtbot.waitUntil(lambda: page.model.row_of(new_id) >= 0, timeout=20_000)  # live
    finally:
        page.shutdown()
