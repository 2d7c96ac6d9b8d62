"""The Overview page: advisor warnings with a Fix that really restarts a worker, live charts fed
from the sampler, exports, and the banner above every page.

Integration tests use a real managed broker (``home``) and real workers; the confirmation box
is clicked like a user would, nothing in the backend is mocked.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from pooldesk.backend import settings
from pooldesk.backend.advisor.model import Advice, Fix
from pooldesk.backend.broker import ensure_broker
from pooldesk.backend.telemetry.samples import ProcessSample, Snapshot, SystemSample
from pooldesk.backend.workers.manager import WorkerManager
from pooldesk.backend.workers.spec import WorkerSpec, cores
from pooldesk.desktop import resources
from pooldesk.desktop.charts import LimitHistory, TimeChart
from pooldesk.desktop.charts.base import AgoAxis, ago_text
from pooldesk.desktop.models.workers_model import STATE
from pooldesk.desktop.shell.root import PooldeskWindow as MainWindow
from pooldesk.desktop.views.warnings_panel import WarningsBanner, WarningsPanel, chip_text


def _advice(rule: str, severity: str, fix: Fix | None = None, **evidence: object) -> Advice:
    return Advice(f"{rule}:w@h", rule, severity, f"{rule} title", f"{rule} text", evidence, fix)


def _points(chart: TimeChart, key: str) -> int:
    x, _ = chart.curve(key).getData()
    return 0 if x is None else len(x)


# -- widgets, no broker --------------------------------------------------------------------
def test_panel_shows_cards_in_place_and_asks_before_fixing(qtbot: QtBot) -> None:
    panel = WarningsPanel()
    qtbot.addWidget(panel)
    panel.setStyleSheet(resources.stylesheet())
    panel.show()
    fix = Fix("restart_worker", {"name": "g1"}, "Restart worker g1 as prefork × 2 (now …).")
    trap = _advice("cpu_under_gevent", "warning", fix, pool="gevent", active_tasks=0)
    info = _advice("prefork_oversubscribed", "info", None, uss_bytes=3 * 2**20, cores_used=None)
    panel.set_advice([info, trap])
    assert set(panel.cards) == {info.id, trap.id}
    card = panel.card("cpu_under_gevent")
    assert card is not None and not card.fix_button.isHidden()
    assert card.chip_texts() == ["pool gevent", "0 tasks running"]
    other = panel.card("prefork_oversubscribed")
    assert other is not None and other.fix_button.isHidden()
    assert other.chip_texts() == ["3.0 MiB of RAM (USS)"]  # None evidence is left out
    assert panel._layout.indexOf(card) < panel._layout.indexOf(other)  # most severe first

    # New evidence updates the same card (no flicker, the button stays under the mouse).
    panel.set_advice([_advice("cpu_under_gevent", "critical", fix, cores_used=0.98)])
    assert panel.card("cpu_under_gevent") is card and card.chip_texts() == ["0.98 cores used"]
    assert card.property("severity") == "critical"

    with qtbot.assertNotEmitted(panel.fixRequested):
        qtbot.mouseClick(card.fix_button, Qt.MouseButton.LeftButton)
        box = panel.confirm_box
        assert box is not None and box.isVisible() and box.text() == fix.confirm
        qtbot.mouseClick(box.button(QMessageBox.StandardButton.Cancel), Qt.MouseButton.LeftButton)
    assert card.fix_button.isEnabled()
    with qtbot.waitSignal(panel.fixRequested) as requested:
        qtbot.mouseClick(card.fix_button, Qt.MouseButton.LeftButton)
        box = panel.confirm_box
        assert box is not None
        assert box.button(QMessageBox.StandardButton.Ok).text() == "Restart"
        qtbot.mouseClick(box.button(QMessageBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    assert requested.args == [fix]
    assert not card.fix_button.isEnabled() and card.fix_button.text() == "Fixing…"
    panel.fix_finished(False)  # failed: may be tried again
    assert card.fix_button.isEnabled()

    panel.set_advice([])
    assert not panel.cards and panel.empty_label.isVisible()


def test_banner_counts_and_names_the_worst(qtbot: QtBot) -> None:
    holder = QWidget()
    qtbot.addWidget(holder)
    banner = WarningsBanner(holder)
    holder.show()
    assert banner.isHidden()
    banner.set_advice([_advice("a", "info"), _advice("b", "critical")])
    assert banner.isVisible() and banner.label.text() == "<b>2 warnings</b> — b title"
    banner.set_suppressed(True)
    assert banner.isHidden()
    banner.set_suppressed(False)
    with qtbot.waitSignal(banner.showRequested):
        banner.link.linkActivated.emit("#show")
    banner.set_advice([])
    assert banner.isHidden()


def test_evidence_chips_and_time_axis_read_well() -> None:
    assert chip_text("cpu_queues", ["invoices", "x"]) == "CPU-bound: invoices, x"
    assert chip_text("growth_bytes_per_min", 2 * 2**20) == "growing 2.0 MiB/min"
    assert chip_text("loop_lag_ms_max", 812.54) == "loop lag up to 813 ms"
    assert chip_text("loop_lag_ms_max", 35012.6) == "loop lag up to 35.0 s"
    assert chip_text("cores_used", 0.2213) == "0.22 cores used"
    assert chip_text("ping_seconds", 1.4) == "ping 1.40 s"
    assert chip_text("waiting", 6000) == "6,000 tasks waiting"
    assert chip_text("batch", "0123456789abcdef0123456789") == "batch 0123456789ab"
    assert [ago_text(s) for s in (0, 30, 90, 300, 3600)] == [
        "now", "−30 s", "−1.5 min", "−5 min", "−1 h"
    ]  # fmt: skip
    axis = AgoAxis("bottom")
    assert axis.tickSpacing(-3600, 0, 400) == [(900.0, 0.0)]  # 15-min labels on an hour
    assert axis.tickSpacing(-60, 0, 400) == [(15.0, 0.0)]


def test_cores_limit_is_concurrency_clipped_to_cores() -> None:
    system = SystemSample(50.0, (40.0, 60.0), 1, 1, 2, 0, 0)

    def sample(concurrency: int) -> ProcessSample:
        return ProcessSample("g1", "worker", 1, 99.0, 1, 1, 0, 3, 1.0, 0.99, 0.99,
                             "g1@h", "gevent", concurrency)  # fmt: skip

    limits = LimitHistory()
    now = time.time()
    limits.record(Snapshot(now - 1, system, {"g1": sample(20)}))
    limits.record(Snapshot(now, system, {"g1": sample(1)}))
    cols = limits.columns("g1", 60)
    assert cols["limit"] == [2.0, 1.0] and cols["concurrency"] == [20.0, 1.0]


# -- the window, real broker and workers ---------------------------------------------------
@pytest.mark.slow
def test_charts_fill_export_and_follow_the_window_choice(
    home: Path, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    page = window.overview_page
    assert window.pages.currentWidget() is page  # the first page
    qtbot.waitUntil(lambda: _points(page.cpu_chart, "total") > 2, timeout=15_000)
    assert _points(page.ram_chart, "used") > 1
    assert _points(page.cpu_chart, "cpu0") > 1  # the faint per-core curves
    qtbot.waitUntil(lambda: "events live" in page.status_label.text(), timeout=15_000)
    assert page.status_label.text().startswith("Broker up (managed) · no backlog")

    target = tmp_path / "cpu.csv"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "CSV file (*.csv)")
    )
    page.cpu_chart.csv_action.trigger()
    rows = list(csv.reader(target.open(encoding="utf-8")))
    assert rows[0][:3] == ["timestamp", "time", "all cores"] and "cpu0" in rows[0]
    assert len(rows) > 2 and all(0 <= float(r[2]) <= 100 for r in rows[1:] if r[2])
    png = tmp_path / "cpu.png"
    assert page.cpu_chart.export_png(png) and png.stat().st_size > 1000

    view = page.cpu_chart.plot.getPlotItem().getViewBox()
    assert view.viewRange()[0] == pytest.approx([-300, 0], abs=1)
    page.window_combo.setCurrentIndex(page.window_combo.findText("1 min"))
    assert view.viewRange()[0] == pytest.approx([-60, 0], abs=1)
    assert page.worker_charts.cores.window_s == 60

    window.close()
    assert not window.telemetry.is_running() and not window.controller.is_running()
    QApplication.processEvents()


@pytest.mark.slow
def test_a_warning_shows_and_its_fix_restarts_the_worker_as_prefork(
    home: Path, qtbot: QtBot
) -> None:
    settings.save(settings.Settings(advisor={"raise_after": 1}))
    manager = WorkerManager(config=ensure_broker(), stop_timeout=20)
    window: MainWindow | None = None
    try:
        before = manager.start(WorkerSpec("g1", "gevent", 8, ("invoices",)))
        assert before.state == "online" and before.pid
        window = MainWindow()
        qtbot.addWidget(window)
        window.setStyleSheet(resources.stylesheet())
        window.show()
        panel, page = window.overview_page.warnings, window.overview_page

        # The prediction (no load yet): gevent on the CPU-bound invoices queue.
        qtbot.waitUntil(lambda: panel.card("cpu_under_gevent") is not None, timeout=30_000)
        card = panel.card("cpu_under_gevent")
        assert card is not None and card.advice.fix is not None
        assert "gevent × 8" in card.chip_texts()
        confirm = card.advice.fix.confirm
        assert confirm.startswith(f"Restart worker g1 as prefork × {cores()} (now gevent × 8)")

        # Its worker's charts fill in; elsewhere the banner carries the warning.
        # (Two sources, two paces: "used" from the sampler's history, "limit" recorded from
        # each snapshot the page receives; both must fill.)
        qtbot.waitUntil(
            lambda: (
                _points(page.worker_charts.cores, "used") > 1
                and _points(page.worker_charts.cores, "limit") > 1
            ),
            timeout=15_000,
        )
        assert page.worker_combo.currentData() == "g1"
        window.nav.setCurrentRow(window.pages.indexOf(window.workers_page))
        assert window.banner.isVisible() and "gevent" in window.banner.label.text()
        window.banner.link.linkActivated.emit("#show")
        assert window.pages.currentWidget() is page and window.banner.isHidden()

        qtbot.mouseClick(card.fix_button, Qt.MouseButton.LeftButton)
        box = panel.confirm_box
        assert box is not None and box.isVisible()
        assert box.text() == confirm  # exactly what will be done
        qtbot.mouseClick(box.button(QMessageBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
        assert card.fix_button.text() == "Fixing…" and not card.fix_button.isEnabled()

        model = window.workers_page.model

        def restarted() -> bool:
            row = model.row_of("g1")
            info = model.worker(row) if row >= 0 else None
            return (
                info is not None
                and model.index(row, STATE).data() == "online"
                and info.pool == "prefork"
                and info.pid not in (None, before.pid)
            )

        qtbot.waitUntil(restarted, timeout=45_000)
        after = manager.info("g1")
        assert (after.pool, after.concurrency, after.state) == ("prefork", cores(), "online")
        assert after.pid != before.pid
        assert "g1 restarted as prefork" in window.statusBar().currentMessage()
        qtbot.waitUntil(lambda: panel.card("cpu_under_gevent") is None, timeout=15_000)
        assert not window.banner.advice or all(
            a.rule != "cpu_under_gevent" for a in window.banner.advice
        )
        assert not window.open_messages(), [m.text() for m in window.open_messages()]
    finally:
        if window is not None:
            window.close()
            assert not window.telemetry.is_running()
        for info in manager.all(include_remote=False):
            if info.state in ("starting", "online", "stopping"):
                manager.stop(info.name, timeout=15)
        assert all(i.state in ("stopped", "crashed") for i in manager.all(include_remote=False))
        manager.close()
        QApplication.processEvents()
