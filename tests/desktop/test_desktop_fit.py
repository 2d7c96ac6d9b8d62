"""The Pool fit table, the loop-lag chart and the batch timeline, as a user sees them."""

from __future__ import annotations

import time
from types import MappingProxyType

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QPushButton
from pytestqt.qtbot import QtBot

from pooldesk.backend.advisor.model import Observations, Thresholds, WorkerObs
from pooldesk.backend.fit.table import build
from pooldesk.backend.telemetry.fitstate import TaskFit
from pooldesk.backend.telemetry.views import EventSnapshot, Span, WorkerView
from pooldesk.desktop.charts import LimitHistory, WorkerCharts
from pooldesk.desktop.views.pool_fit import FIX_COLUMN, PoolFitTable
from pooldesk.desktop.views.timeline import TimelineWidget, lanes, summary


def _fit(task: str, queue: str, pool: str, cpu: float, hold: float) -> TaskFit:
    return TaskFit(task, queue, pool, 4, 1.2, cpu, cpu, hold, hold / 4, 0.3, None, 1.2)


def _rows():  # type: ignore[no-untyped-def]
    g = WorkerObs(
        "fg", "fg@h", True, "gevent", 20, ["db", "web"], "online",
        fit=[
            _fit("app.query", "db", "gevent", 0.01, 1.19),
            _fit("app.get", "web", "gevent", 0.01, 0.004),
        ],
    )  # fmt: skip
    return build(Observations(workers=[g], cores=2, natures={}), Thresholds())


def test_pool_fit_table_shows_the_trap_and_asks_before_fixing(qtbot: QtBot) -> None:
    table = PoolFitTable()
    qtbot.addWidget(table)
    table.set_rows(_rows())
    t = table.table
    assert t.rowCount() == 2
    assert [t.item(0, c).text() for c in (0, 2, 3, 4, 6)] == [
        "db", "blocking", "1%", "99%", "runs one at a time",
    ]  # fmt: skip
    assert "holds the loop" in t.item(0, 2).toolTip()
    assert t.item(1, 6).text() == "fits"
    assert isinstance(t.cellWidget(0, FIX_COLUMN), QPushButton)
    assert not isinstance(t.cellWidget(1, FIX_COLUMN), QPushButton)  # nothing to fix
    button = t.cellWidget(0, FIX_COLUMN)
    with qtbot.assertNotEmitted(table.fixRequested):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        box = table.confirm_box
        assert box is not None and "prefork" in box.text()
        qtbot.mouseClick(box.button(QMessageBox.StandardButton.Cancel), Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(table.fixRequested) as requested:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        box = table.confirm_box
        assert box is not None
        qtbot.mouseClick(box.button(QMessageBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    fix = requested.args[0]
    assert (fix.kind, fix.params["name"], fix.params["pool"]) == (
        "start_worker",
        "db-prefork",
        "prefork",
    )


def test_loop_lag_chart_appears_for_a_gevent_worker_only(qtbot: QtBot) -> None:
    limits = LimitHistory()
    now = time.time()
    for i in range(5):
        view = WorkerView(
            "g@h", True, 0, 0, 0, 0, now - 5 + i, 2.0, None, None, None, 1, None,
            loop_lag_ms_max=800.0,
        )  # fmt: skip
        workers = MappingProxyType({"g@h": view})
        limits.record_loop(EventSnapshot(i, now - 5 + i, True, workers=workers))
    assert limits.loop_columns("g", 3600)["lag_ms"] == [800.0] * 5
    charts = WorkerCharts(limits)
    qtbot.addWidget(charts)
    charts.show()
    charts.set_worker("g")
    charts.refresh(lambda _series, _s: {}, now)
    assert charts.loop.isVisible()
    charts.set_worker("p")
    charts.refresh(lambda _series, _s: {}, now)
    assert not charts.loop.isVisible()


def _span(i: int, pid: int, start: float, wall: float, hold: float | None) -> Span:
    at = start if hold is not None else None
    return Span(f"b.{i}", "t", "q", "w@h", pid, start, start + wall, "SUCCESS", hold, hold, at)


def test_timeline_rows_and_summary_tell_serial_from_parallel(qtbot: QtBot) -> None:
    # gevent: 3 runs accepted together, each holding the loop 1 s in turn
    serial = [_span(i, 7, 0.0, 1.0 * (i + 1) + 0.1, None) for i in range(3)]
    serial = [
        Span(s.task_id, s.name, s.queue, s.hostname, 7, 0.0, s.ended, "SUCCESS", 1.0, 1.0, float(i))
        for i, s in enumerate(serial)
    ]
    assert "at most 3 running at once, at most 1 holding an event loop" in summary(serial, 9.0)
    assert [len(lanes_) for lanes_ in lanes(serial, 9.0).values()] == [3]
    parallel = [_span(i, 10 + i % 2, float(i // 2), 1.0, 0.0) for i in range(4)]
    rows = lanes(parallel, 9.0)
    assert list(rows) == [("w@h", 10), ("w@h", 11)]  # one row per prefork process
    assert summary(parallel, 9.0).startswith("4 runs on 2 processes; at most 2 running")
    widget = TimelineWidget()
    qtbot.addWidget(widget)
    widget.set_spans(parallel, 9.0)
    widget.resize(600, widget.minimumHeight())
    assert not widget.grab().isNull()


def test_double_click_opens_a_queue_timeline(qtbot: QtBot) -> None:
    from pooldesk.desktop.views.overview_page import OverviewPage

    page = OverviewPage()
    qtbot.addWidget(page)
    asked: list[dict[str, object]] = []

    def source(**kwargs: object) -> list[Span]:
        asked.append(kwargs)
        return [_span(i, 10 + i % 2, float(i // 2), 1.0, 0.0) for i in range(4)]

    page.set_timeline_source(source)
    page.set_fit(_rows())
    table = page.pool_fit.table
    table.cellDoubleClicked.emit(1, 0)
    dialog = page.timeline_dialog
    assert dialog is not None and dialog.windowTitle() == "Queue web: recent runs"
    assert asked[-1] == {"queue": "web"}
    assert dialog.caption.text().startswith("4 runs on 2 processes")
    dialog.close()
    qtbot.waitUntil(lambda: page.timeline_dialog is None, timeout=5_000)


def test_timeline_words_lanes_and_close_button(qtbot: QtBot) -> None:
    from PySide6.QtWidgets import QDialogButtonBox

    from pooldesk.desktop.views.timeline import TimelineDialog

    one = [_span(0, 10, 0.0, 1.0, 0.0)]
    assert summary(one, 9.0).startswith("1 run on 1 process; at most 1 running")
    # 30 runs at once seen only in events (no probe): each keeps its own lane, none overlap.
    events = [
        Span(f"t{i}", "app.get", "web", "g@h", None, 0.0, 5.0, "SUCCESS", None, None, None)
        for i in range(30)
    ]
    [row] = lanes(events, 9.0).values()
    assert len(row) == 30 and all(len(lane) == 1 for lane in row)
    assert summary(events, 9.0).startswith("30 runs; at most 30 running at once")
    dialog = TimelineDialog("Queue web: recent runs", lambda: events)
    qtbot.addWidget(dialog)
    dialog.show()
    close = dialog.buttons.button(QDialogButtonBox.StandardButton.Close)
    assert close is not None and close.isVisible()
    close.click()
    assert not dialog.isVisible() and not dialog.timer.isActive()


def test_task_detail_times_one_a_line_and_a_wrapped_traceback(qtbot: QtBot) -> None:
    from PySide6.QtWidgets import QPlainTextEdit

    from pooldesk.desktop.views.task_detail import TaskDetail, detail_html

    data = {
        "id": "abc", "name": "shop.tasks.invoice", "state": "FAILURE", "queue": "billing",
        "sent_at": 1_700_000_000.0, "started_at": 1_700_000_001.0, "ended_at": 1_700_000_002.5,
        "args_hidden": True, "traceback": "Traceback (most recent call last):\n" + "x" * 400,
    }  # fmt: skip
    html = detail_html(data)
    assert html.count("<br>") == 2 and "received" not in html  # never seen: left out
    assert "task_history_hide_args" not in html
    detail = TaskDetail()
    qtbot.addWidget(detail)
    detail.resize(900, 300)
    detail.show()
    detail.show_task(data)
    wrap = detail.traceback.lineWrapMode()
    assert wrap == QPlainTextEdit.LineWrapMode.WidgetWidth
    assert not detail.traceback.horizontalScrollBar().isVisible()
