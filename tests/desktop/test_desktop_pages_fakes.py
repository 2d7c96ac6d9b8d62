"""The Workers and Batches pages fed by fake services: a small QObject with the signals the
main window connects to each page (``workersChanged(list)``, ``batchesChanged(list)``,
``childrenChanged(str, list)``), emitting hand-made WorkerInfo and BatchRecord lists. No
broker, no worker, no controller thread: what a page shows and enables for a given state, in
well under a second each. (The same pages on real workers: test_desktop_workers.py and
test_desktop_batches.py.)"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from pytestqt.qtbot import QtBot

from pooldesk.backend.batches.history import BatchRecord
from pooldesk.backend.workers.manager import WorkerInfo
from pooldesk.desktop.formatting import DASH
from pooldesk.desktop.models.batches_model import FAILED, PROGRESS, ProgressRole
from pooldesk.desktop.models.batches_model import STATE as BATCH_STATE
from pooldesk.desktop.models.children_model import STATE as CHILD_STATE
from pooldesk.desktop.models.workers_model import CPU, MEMORY, NAME, STATE, WorkersModel
from pooldesk.desktop.views.batches_page import BatchesPage
from pooldesk.desktop.views.worker_actions import TIPS
from pooldesk.desktop.views.workers_page import WorkersPage


class FakeWorkerService(QObject):
    """What the Workers page listens to (desktop.controller.Controller's signal)."""

    workersChanged = Signal(list)  # list[WorkerInfo]


class FakeBatchService(QObject):
    """What the Batches page listens to (desktop.batch_controller.BatchController's signals)."""

    batchesChanged = Signal(list)  # list[BatchRecord], newest first
    childrenChanged = Signal(str, list)  # batch id, list[dict]


def worker(name: str, state: str, remote: bool = False, **kw: Any) -> WorkerInfo:
    host = f"{name}@{'elsewhere' if remote else 'here'}"
    defaults: dict[str, Any] = {"pid": None if remote else 4242, "pool": "prefork"}
    defaults["concurrency"], defaults["queues"] = 2, ["default"]
    return WorkerInfo(name, host, state=state, remote=remote, **{**defaults, **kw})


def batch(batch_id: str, state: str, created: float, **kw: Any) -> BatchRecord:
    return BatchRecord(batch_id, "invoices", {}, state, created_at=created, **kw)


def _cell(model: Any, row: int, column: int) -> str:
    return str(model.index(row, column).data())


def _actions(page: WorkersPage) -> dict[str, bool]:
    return {
        "stop": page.stop_action.isEnabled(),
        "stop now": page.stop_now_action.isEnabled(),
        "restart": page.restart_action.isEnabled(),
        "resize": page.resize_action.isEnabled(),
        "forget": page.forget_action.isEnabled(),
    }


def _workers_page(qtbot: QtBot) -> tuple[WorkersPage, FakeWorkerService]:
    service = FakeWorkerService()
    page = WorkersPage()
    qtbot.addWidget(page)
    service.workersChanged.connect(page.set_workers)  # as MainWindow._wire does
    return page, service


def test_the_workers_page_shows_state_cpu_and_memory_of_each_worker(qtbot: QtBot) -> None:
    page, service = _workers_page(qtbot)
    assert page.empty_label.isVisibleTo(page)  # nothing listed yet: how to start one
    service.workersChanged.emit(
        [
            worker("inv", "online", cpu_percent=87.25, memory_bytes=150 * 2**20),
            worker("mon", "crashed", exit="exit code 1", last_log=["ImportError: nope"]),
        ]
    )
    model = page.model
    assert not page.empty_label.isVisibleTo(page) and model.rowCount() == 2
    assert [_cell(model, r, NAME) for r in range(2)] == ["inv", "mon"]
    assert [_cell(model, r, STATE) for r in range(2)] == ["online", "crashed"]
    assert _cell(model, 0, CPU) == "87.2" and _cell(model, 0, MEMORY) == "150.0 MiB"
    assert _cell(model, 1, CPU) == DASH and _cell(model, 1, MEMORY) == DASH  # not measured
    tip = model.index(1, STATE).data(Qt.ItemDataRole.ToolTipRole)  # why it crashed
    assert "exit code 1" in tip and "ImportError: nope" in tip

    # The next refresh changes cells in place: the selection stays on the same worker.
    assert page.select("inv")
    service.workersChanged.emit(
        [worker("inv", "online", cpu_percent=3.0), worker("mon", "crashed")]
    )
    assert _cell(model, 0, CPU) == "3.0" and page.selected_worker().name == "inv"  # type: ignore[union-attr]
    service.workersChanged.emit([])
    assert model.rowCount() == 0 and page.empty_label.isVisibleTo(page)


def test_the_workers_page_offers_only_what_the_selected_workers_state_allows(
    qtbot: QtBot,
) -> None:
    page, service = _workers_page(qtbot)
    service.workersChanged.emit(
        [
            worker("up", "online"),
            worker("down", "crashed"),
            worker("leaving", "stopping", progress="2 tasks running"),
            worker("theirs", "online-remote", remote=True),
        ]
    )
    assert not any(_actions(page).values())  # nothing selected, nothing to act on
    enabled = {  # the actions each state offers; all others are off
        "up": {"stop", "restart", "resize"},
        "down": {"forget"},
        "leaving": {"stop now"},  # a warm stop under way: only "do not wait"
    }
    for name, actions in enabled.items():
        assert page.select(name)
        assert {a for a, on in _actions(page).items() if on} == actions, name
    assert page.select("theirs", remote=True)  # someone else's: stop (asks first) and resize
    assert {a for a, on in _actions(page).items() if on} == {"stop", "resize"}
    assert page.stop_action.toolTip() == TIPS["stop-remote"]

    # The selected worker crashes: the actions follow at once, without a new selection.
    assert page.select("up")
    with qtbot.waitSignal(page.stopRequested, timeout=1000) as stop:
        page.stop_action.trigger()
    assert stop.args == ["up"]
    service.workersChanged.emit([worker("up", "crashed"), worker("down", "crashed")])
    assert page.selected_worker().state == "crashed"  # type: ignore[union-attr]
    assert _actions(page)["forget"] and not _actions(page)["stop"]


def test_local_workers_stay_above_remote_ones_as_workers_come_and_go(qtbot: QtBot) -> None:
    model = WorkersModel()
    inserted: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _parent, first, last: inserted.append((first, last)))
    model.update([worker("theirs", "online-remote", remote=True), worker("a", "online")])
    assert [model.worker(r).name for r in range(2)] == ["a", "theirs"]  # type: ignore[union-attr]
    inserted.clear()
    model.update(
        [
            worker("theirs", "online-remote", remote=True),
            worker("a", "online"),
            worker("b", "starting"),
        ]
    )
    assert inserted == [(1, 1)]  # the new local worker goes under "a", above the remote one
    assert [w.name for w in model.workers()] == ["a", "b", "theirs"]
    assert model.row_of("theirs", remote=True) == 2 and model.row_of("theirs") == -1
    model.update([worker("b", "starting")])
    assert [w.name for w in model.workers()] == ["b"]


def _batches_page(qtbot: QtBot) -> tuple[BatchesPage, FakeBatchService]:
    service = FakeBatchService()
    page = BatchesPage()
    qtbot.addWidget(page)
    service.batchesChanged.connect(page.set_batches)  # as MainWindow._wire_batches does
    service.childrenChanged.connect(page.set_children)
    return page, service


def test_the_batches_page_shows_progress_and_offers_cancel_or_retry_by_state(
    qtbot: QtBot,
) -> None:
    page, service = _batches_page(qtbot)
    now = time.time()
    running = batch(
        "run-0001", "running", now - 60, started_at=now - 50,
        counts={"total": 10, "succeeded": 4, "failed": 1, "running": 2},
    )  # fmt: skip
    done = batch(
        "done-0001", "completed_with_failures", now - 600, started_at=now - 590,
        finished_at=now - 500, counts={"total": 4, "succeeded": 3, "failed": 1},
        summary={"created": 30},
    )  # fmt: skip
    queued = batch("queued-01", "queued", now - 5)
    service.batchesChanged.emit([queued, running, done])
    model = page.model
    assert [model.record(r).id for r in range(3)] == ["queued-01", "run-0001", "done-0001"]  # type: ignore[union-attr]
    assert _cell(model, 1, PROGRESS) == "5/10" and _cell(model, 1, FAILED) == "1"
    assert model.index(1, PROGRESS).data(ProgressRole) == (5, 10)
    assert _cell(model, 2, BATCH_STATE) == "completed, failures"
    assert _cell(model, 0, PROGRESS) == DASH  # queued: its children are not known yet

    offered = {}
    for batch_id in ("queued-01", "run-0001", "done-0001"):
        assert page.select(batch_id)
        offered[batch_id] = (page.cancel_action.isEnabled(), page.retry_action.isEnabled())
    assert offered == {
        "queued-01": (True, False),  # cancel: the parent is revoked
        "run-0001": (True, False),  # cancel: its children are known
        "done-0001": (False, True),  # over, one failed: retry
    }

    # The running batch moves on: its row changes in place and stays selected.
    assert page.select("run-0001")
    finished = batch(
        "run-0001", "completed", now - 60, started_at=now - 50, finished_at=now,
        counts={"total": 10, "succeeded": 10}, summary={"created": 100},
    )  # fmt: skip
    service.batchesChanged.emit([queued, finished, done])
    assert _cell(model, 1, PROGRESS) == "10/10" and _cell(model, 1, BATCH_STATE) == "completed"
    assert page.selected_batch().id == "run-0001"  # type: ignore[union-attr]
    assert not page.cancel_action.isEnabled() and not page.retry_action.isEnabled()


def test_the_selected_batchs_children_are_listed_failed_and_running_first(
    qtbot: QtBot,
) -> None:
    page, service = _batches_page(qtbot)
    now = time.time()
    record = batch("kids-0001", "running", now - 30, started_at=now - 20, counts={"total": 4})
    service.batchesChanged.emit([record])
    with qtbot.waitSignal(page.batchSelected, timeout=1000) as selected:
        assert page.select("kids-0001")
    assert selected.args == ["kids-0001"]
    children = [
        {"index": 0, "state": "SUCCESS"},
        {"index": 1, "state": "STARTED"},
        {"index": 2, "state": "FAILURE", "reason": "database is locked"},
        {"index": 3, "state": "PENDING"},
    ]
    service.childrenChanged.emit("another-batch", children)  # not the selected one: ignored
    kids = page.detail.children_model
    assert kids.rowCount() == 0
    service.childrenChanged.emit("kids-0001", children)
    assert [_cell(kids, r, CHILD_STATE) for r in range(4)] == [
        "failed", "running", "pending", "succeeded"
    ]  # fmt: skip
    assert kids.child(0) is not None and kids.child(0)["reason"] == "database is locked"  # type: ignore[index]


def test_the_overview_shows_running_batches_and_the_latest_when_none_runs(
    qtbot: QtBot,
) -> None:
    from pooldesk.desktop.views.active_batches import MAX_ROWS
    from pooldesk.desktop.views.overview_page import OverviewPage

    service = FakeBatchService()
    page = OverviewPage()
    qtbot.addWidget(page)
    service.batchesChanged.connect(page.set_batches)  # as MainWindow._wire_batches does
    now = time.time()
    counts = {"total": 8, "succeeded": 2, "failed": 1}
    running = [
        batch(f"run-{i:04d}", "running", now - i, started_at=now - 10, counts=counts)
        for i in range(MAX_ROWS + 2)
    ]
    over = batch("over-0001", "completed", now - 900, counts={"total": 2, "succeeded": 2})
    service.batchesChanged.emit([*running, over])
    shown = page.batches
    assert shown.active_ids() == [r.id for r in running[:MAX_ROWS]]  # newest first, at most 5
    assert shown.more_label.text() == "and 2 more on the Batches page"
    first = shown.rows[0]
    assert (first.bar.value(), first.bar.maximum()) == (3, 8)
    assert first.bar.format() == "3 / 8 chunks" and "1 failed" in first.detail.text()
    with qtbot.waitSignal(shown.openRequested, timeout=1000) as opened:
        qtbot.mouseClick(first, Qt.MouseButton.LeftButton)
    assert opened.args == ["run-0000"]

    service.batchesChanged.emit([over])  # nothing runs: the latest batch, in one line
    assert shown.active_ids() == [] and not shown.more_label.isVisibleTo(shown)
    assert shown.idle_label.text().startswith("No batch running. Latest: invoices over-000")
