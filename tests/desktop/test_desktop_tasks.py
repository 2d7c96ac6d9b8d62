"""The Tasks page on a large recorded history (100,000 rows), with real widgets and the real
controller thread reading the real SQLite file. Timings are printed, never asserted."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from pooldesk.backend.taskhistory.normalise import row_of
from pooldesk.backend.taskhistory.store import TaskStore
from pooldesk.desktop.models.tasks_model import TasksModel
from pooldesk.desktop.services.tasks import TasksController
from pooldesk.desktop.views.tasks_page import PAGE, TasksPage
from tests.taskhistory_data import generate

ROWS = 100_000


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tasks") / "tasks.db"
    generate(path, ROWS)
    return path


@pytest.fixture
def page(big_store: Path, home: Path, qtbot: QtBot) -> Iterator[TasksPage]:
    started = time.perf_counter()
    widget = TasksPage(TasksController(big_store, manage_recorder=False))
    qtbot.addWidget(widget)
    widget.resize(1300, 800)
    widget.show()
    qtbot.waitUntil(
        lambda: "100,000 recorded tasks match" in widget.count_label.text(), timeout=10_000
    )
    qtbot.waitUntil(lambda: widget.model.rowCount() == PAGE, timeout=10_000)
    print(
        f"\nTasks page on {ROWS:,} rows: first page and count in "
        f"{(time.perf_counter() - started) * 1000:.0f} ms"
    )
    yield widget
    widget.shutdown()


def _settled(page: TasksPage, qtbot: QtBot) -> None:
    """Typed filters wait for the debounce, then for every answer they asked for."""
    qtbot.waitUntil(lambda: not page.debounce.isActive() and not page._kinds, timeout=10_000)


def test_filters_narrow_a_large_history(page: TasksPage, qtbot: QtBot) -> None:
    started = time.perf_counter()
    page.state_box.setCurrentText("FAILURE")
    _settled(page, qtbot)
    qtbot.waitUntil(lambda: "12,0" in page.count_label.text(), timeout=10_000)
    print(f"state filter answered in {(time.perf_counter() - started) * 1000:.0f} ms")
    states = {page.model.row_at(i)["state"] for i in range(page.model.rowCount())}  # type: ignore[index]
    assert states == {"FAILURE"}

    page.search_edit.setText("customer 17 not")
    _settled(page, qtbot)
    rows = [page.model.row_at(i) for i in range(page.model.rowCount())]
    assert rows and all("customer 17 not found" in r["exception"] for r in rows)  # type: ignore[index]

    page.search_edit.clear()
    page.state_box.setCurrentIndex(0)
    page.name_edit.setText("mail.send")
    qtbot.waitUntil(lambda: page.queue_box.findText("mail") >= 0, timeout=10_000)  # offered
    page.queue_box.setEditText("mail")
    _settled(page, qtbot)
    qtbot.waitUntil(lambda: page.model.rowCount() > 0, timeout=10_000)
    rows = [page.model.row_at(i) for i in range(page.model.rowCount())]
    assert all(r["name"] == "shop.mail.send" and r["queue"] == "mail" for r in rows)  # type: ignore[index]


def test_scrolling_fetches_the_next_page_without_duplicates(page: TasksPage, qtbot: QtBot) -> None:
    page.table.scrollToBottom()
    qtbot.waitUntil(lambda: page.model.rowCount() >= 2 * PAGE, timeout=10_000)
    ids = [page.model.row_at(i).id for i in range(page.model.rowCount())]  # type: ignore[union-attr]
    assert len(ids) == len(set(ids))
    stamps = [page.model.row_at(i)["first_ts"] for i in range(len(ids))]  # type: ignore[index]
    assert stamps == sorted(stamps, reverse=True)


def test_failure_groups_and_showing_one(page: TasksPage, qtbot: QtBot) -> None:
    qtbot.waitUntil(lambda: page.groups.table.rowCount() == 3, timeout=10_000)
    groups = {
        page.groups.table.item(r, 1).text(): int(
            page.groups.table.item(r, 0).text().replace(",", "")
        )
        for r in range(3)
    }
    assert sum(groups.values()) > 11_000 and "KeyError: customer <n> not found" in groups
    row = next(r for r in range(3) if page.groups.table.item(r, 1).text().startswith("KeyError"))
    page.groups.table.selectRow(row)
    page.show_group()
    _settled(page, qtbot)
    qtbot.waitUntil(lambda: "failure group" in page.count_label.text(), timeout=10_000)
    assert f"{groups['KeyError: customer <n> not found']:,}" in page.count_label.text()
    assert page.model.row_at(0)["exc_type"] == "KeyError"  # type: ignore[index]
    rate = page.model.data(page.model.index(0, 9))
    assert rate.endswith("%")


def test_retry_asks_first_and_an_edited_retry_is_validated(page: TasksPage, qtbot: QtBot) -> None:
    page.retryRequested.disconnect(page.controller.retry)  # no broker here: watch the request
    page.state_box.setCurrentText("FAILURE")
    _settled(page, qtbot)
    page.table.selectRow(0)
    qtbot.waitUntil(lambda: page.detail.data is not None, timeout=10_000)
    assert page.retry_button.isEnabled() and not page.terminate_button.isEnabled()
    assert "Traceback" in page.detail.traceback.toPlainText()
    task_id = page.detail.data["id"]  # type: ignore[index]

    asked: list[str] = []
    page.confirm = lambda title, text: asked.append(text) is not None  # says no
    with qtbot.assertNotEmitted(page.retryRequested, wait=100):
        page.retry_button.click()
    assert "to queue" in asked[0] and "order-" in asked[0]

    page.confirm = lambda title, text: True
    with qtbot.waitSignal(page.retryRequested) as sent:
        page.retry_button.click()
    assert sent.args == [task_id, None, None]

    page.edit_button.click()
    dialog = page.dialog
    assert dialog is not None and dialog.args_edit.toPlainText().startswith("[")
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    dialog.args_edit.setPlainText('[1, "x"')
    assert not ok.isEnabled() and "not valid JSON" in dialog.error.text()
    dialog.kwargs_edit.setPlainText("[]")
    dialog.args_edit.setPlainText('[1, "x"]')
    assert not ok.isEnabled() and "JSON object" in dialog.error.text()
    with qtbot.assertNotEmitted(page.retryRequested, wait=50):
        dialog.accept()  # Enter cannot get past the check
    dialog.kwargs_edit.setPlainText('{"currency": "USD"}')
    assert ok.isEnabled()
    with qtbot.waitSignal(page.retryRequested) as sent:
        ok.click()
    assert sent.args == [task_id, '[1, "x"]', '{"currency": "USD"}']


def test_new_tasks_appear_at_the_top_without_a_reset(
    tmp_path: Path, home: Path, qtbot: QtBot
) -> None:
    path = tmp_path / "tasks.db"
    generate(path, 500, end=time.time() - 60)
    page = TasksPage(TasksController(path, manage_recorder=False))
    qtbot.addWidget(page)
    page.show()  # a hidden page refreshes only when shown
    try:
        qtbot.waitUntil(lambda: page.model.rowCount() == PAGE, timeout=10_000)
        page.table.selectRow(3)
        selected = page.selected_row().id
        store = TaskStore(path)
        event = {
            "type": "task-received",
            "uuid": "fresh-task",
            "name": "shop.new",
            "hostname": "w@h",
            "timestamp": time.time(),
            "args": "()",
            "kwargs": "{}",
        }
        with qtbot.assertNotEmitted(page.model.modelReset, wait=0):
            store.write([row_of(event, False, "k")])  # type: ignore[list-item]
            qtbot.waitUntil(lambda: page.model.row_at(0).id == "fresh-task", timeout=10_000)  # type: ignore[union-attr]
        assert page.selected_row().id == selected
        page.hide()  # another page is on screen: the change waits for the page to be shown
        store.write(
            [row_of({**event, "uuid": "while-hidden", "timestamp": time.time()}, False, "k")]
        )  # type: ignore[list-item]
        qtbot.waitUntil(lambda: page._stale, timeout=10_000)
        page.show()
        qtbot.waitUntil(lambda: page.model.row_at(0).id == "while-hidden", timeout=10_000)  # type: ignore[union-attr]
        store.close()
    finally:
        page.shutdown()


def test_model_pages_by_key(qtbot: QtBot) -> None:
    model = TasksModel()
    assert not model.canFetchMore()
    from pooldesk.backend.taskhistory.query import TaskRow

    model.reset(
        [TaskRow({"id": "b", "first_ts": 2.0}), TaskRow({"id": "a", "first_ts": 1.0})], True
    )
    assert model.canFetchMore()
    with qtbot.waitSignal(model.moreWanted) as wanted:
        model.fetchMore()
    assert wanted.args == [(1.0, "a")] and not model.canFetchMore()  # one request at a time


def test_a_gap_in_the_history_is_shown_above_the_table(
    tmp_path: Path, home: Path, qtbot: QtBot
) -> None:
    from pooldesk.backend.taskhistory.store import Gap

    path = tmp_path / "tasks.db"
    generate(path, 50)
    store = TaskStore(path)
    now = time.time()
    store.add_gap(Gap("k", now - 120, now - 60, "recorder was not running (killed or crashed)"))
    store.close()
    page = TasksPage(TasksController(path, manage_recorder=False))
    qtbot.addWidget(page)
    try:
        qtbot.waitUntil(lambda: page.gap_label.text() != "", timeout=10_000)
        assert "Not recorded" in page.gap_label.text() and "killed" in page.gap_label.text()
    finally:
        page.shutdown()
