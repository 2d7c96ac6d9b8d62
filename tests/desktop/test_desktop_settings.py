"""Presets, the Settings page, the close question and the remembered window: form checks
without a broker, and real round trips (a preset started as a real worker, a worker stopped by
the close question's "Stop workers")."""

from __future__ import annotations

import json
import stat
from dataclasses import fields
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QToolButton
from pytestqt.qtbot import QtBot

from pooldesk.backend import paths, proc
from pooldesk.backend import settings as settings_mod
from pooldesk.backend.advisor.model import Thresholds
from pooldesk.backend.workers import presets as presets_mod
from pooldesk.backend.workers.manager import WorkerInfo
from pooldesk.backend.workers.records import RecordStore
from pooldesk.backend.workers.spec import WorkerSpec, cores
from pooldesk.desktop import resources
from pooldesk.desktop.models.workers_model import STATE
from pooldesk.desktop.settings_hub import SettingsHub
from pooldesk.desktop.shell.root import PooldeskWindow
from pooldesk.desktop.views.settings.broker import join_password, split_password
from pooldesk.desktop.views.settings.page import SettingsPage
from pooldesk.desktop.views.settings.thresholds import THRESHOLD_FIELDS
from pooldesk.desktop.views.workers_page import WorkersPage


def _state_of(window: PooldeskWindow, name: str) -> str | None:
    model = window.workers_page.model
    row = model.row_of(name)
    return model.index(row, STATE).data() if row >= 0 else None


def _window(qtbot: QtBot) -> PooldeskWindow:
    window = PooldeskWindow()
    qtbot.addWidget(window)
    window.setStyleSheet(resources.stylesheet())
    window.show()
    return window


# -- presets, no broker ----------------------------------------------------------------------
def test_default_presets_and_free_names(home: Path, qtbot: QtBot) -> None:
    labels = [presets_mod.label(p) for p in presets_mod.effective_presets([])]
    assert labels == [
        f"Invoices: prefork × {cores()} on invoices",
        "Monitoring: gevent × 200 on monitoring",
        "Orchestration: prefork × 1 on orchestration",
    ]
    mine = [{"name": "Bulk EU", "pool": "threads", "concurrency": 4, "queues": ["bulk"]}]
    assert presets_mod.effective_presets(mine) == mine

    page = WorkersPage()
    qtbot.addWidget(page)
    assert [a.text() for a in page.presets_menu.actions()] == labels
    page.set_workers(
        [WorkerInfo("invoices-1", "invoices-1@here", None, None, None, [], "stopped", False)]
    )
    with qtbot.waitSignal(page.startRequested) as first:
        page.presets_menu.actions()[0].trigger()  # one click
    with qtbot.waitSignal(page.startRequested) as second:
        page.presets_menu.actions()[0].trigger()  # before the list shows the first one
    spec = first.args[0]
    assert isinstance(spec, WorkerSpec)
    assert (spec.name, spec.pool, spec.concurrency, spec.queues) == (
        "invoices-2",
        "prefork",
        cores(),
        ("invoices",),
    )
    assert second.args[0].name == "invoices-3"
    assert presets_mod.spec_for({"name": "Bulk EU", "queues": "a, b"}).name == "bulk-eu-1"


# -- the settings page, no broker -----------------------------------------------------------
def test_invalid_settings_show_why_and_write_nothing(home: Path, qtbot: QtBot) -> None:
    page = SettingsPage(SettingsHub())
    qtbot.addWidget(page)
    page.show()
    assert page.save_button.isEnabled() and page.problems_label.isHidden()
    page.broker_section.external_radio.setChecked(True)
    assert not page.save_button.isEnabled()  # external, but no URL yet
    url_field, url_error = page.field_errors.fields["broker_url"]
    assert "external broker's URL" in url_error.text() and url_field.property("invalid")
    page.broker_section.url_edit.setText("http://:secret@example.com/0")
    page.timings_section.sampling_spin.setValue(0)
    page.presets_section.table.cellWidget(1, 1).setCurrentText("solo")  # Monitoring: solo × 200
    assert not page.save_button.isEnabled()
    assert "not a redis://" in url_error.text() and "secret" not in url_error.text()
    _, sampling_error = page.field_errors.fields["sampling_interval"]
    assert sampling_error.text() == "Must be between 0.1 and 60 seconds"
    presets = page.presets_section.error_label.text()
    assert "preset 2 (Monitoring): concurrency: the solo pool runs exactly one" in presets
    assert page.problems_label.isHidden()  # nothing without a field of its own
    row = page.presets_section.add({"name": "monitoring", "pool": "gevent", "concurrency": 5})
    assert row == 3 and "another preset has this name" in page.presets_section.error_label.text()
    assert page.save() is False
    assert not paths.settings_file().exists()


def test_saving_writes_what_load_reads_back(
    home: Path, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POOLDESK_INVOICE_DB", "postgresql+psycopg://app:pgpw@db/invoices")
    page = SettingsPage(SettingsHub())
    qtbot.addWidget(page)
    page.show()
    assert page.broker_section.invoice_db_edit.isReadOnly()
    assert page.broker_section.env_notes["invoice_db"].text() == "set by POOLDESK_INVOICE_DB"
    assert "pgpw" not in page.broker_section.invoice_db_edit.text()

    page.broker_section.external_radio.setChecked(True)
    page.broker_section.url_edit.setText("redis://127.0.0.1:6390/0")
    page.broker_section.password_edit.setText("s3cret")
    page.timings_section.sampling_spin.setValue(2.5)
    page.timings_section.stop_spin.setValue(90)
    page.thresholds_section.spins["lag_ms"].setValue(800)
    page.presets_section.table.item(0, 2).setText("3")
    page.presets_section.table.selectRow(2)
    page.presets_section.remove_button.click()
    assert page.save_button.isEnabled(), page.problems_label.text()
    with qtbot.waitSignal(page.saved):
        qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    assert "next time Pooldesk starts" in page.status_label.text()

    path = paths.settings_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "pgpw" not in path.read_text()  # the environment's value is not written
    loaded = settings_mod.load(env=False)
    assert loaded.message is None
    s = loaded.settings
    assert s.broker_url == "redis://:s3cret@127.0.0.1:6390/0"
    assert (s.sampling_interval, s.stop_timeout, s.invoice_db) == (2.5, 90.0, None)
    assert s.advisor == {"lag_ms": 800.0}
    assert [(p["name"], p["concurrency"], p["queues"]) for p in s.presets] == [
        ("Invoices", 3, ["invoices"]),
        ("Monitoring", 200, ["monitoring"]),
    ]

    again = SettingsPage(
        SettingsHub()
    )  # a fresh page shows the file, password in its masked field only
    qtbot.addWidget(again)
    assert again.broker_section.url_edit.text() == "redis://127.0.0.1:6390/0"
    assert again.broker_section.password_edit.text() == "s3cret"
    assert (
        again.broker_section.password_edit.echoMode()
        == again.broker_section.password_edit.EchoMode.Password
    )
    assert again.presets_section.table.rowCount() == 2
    assert again.settings() == s


def test_thresholds_read_in_plain_words_and_bytes_edit_in_mib(home: Path, qtbot: QtBot) -> None:
    # Every threshold has a written label with its unit and a tooltip saying what it does.
    assert set(THRESHOLD_FIELDS) == {f.name for f in fields(Thresholds)}
    page = SettingsPage(SettingsHub())
    qtbot.addWidget(page)
    page.resize(1280, 800)
    page.show()
    for name, spin in page.thresholds_section.spins.items():
        spec = THRESHOLD_FIELDS[name]
        assert "_" not in spec.label and spec.tooltip and spin.toolTip() == spec.tooltip
        assert spin.width() < 300  # numeric fields keep a sensible width (not the window's)
    ram, growth = (
        page.thresholds_section.spins["ram_available_min_bytes"],
        page.thresholds_section.spins["uss_growth_bytes_per_min"],
    )
    assert (ram.value(), ram.suffix()) == (512.0, " MiB")
    assert (growth.value(), growth.suffix()) == (20.0, " MiB/min")
    assert page.thresholds_section.spins["ram_available_fraction"].value() == 10.0  # percent
    name_width = page.presets_section.table.columnWidth(0)
    assert name_width >= page.presets_section.table.fontMetrics().horizontalAdvance("Orchestration")

    ram.setValue(1536)
    page.thresholds_section.spins["ram_available_fraction"].setValue(25)
    assert page.save(), page.problems_label.text()
    advisor = json.loads(paths.settings_file().read_text())["advisor"]
    assert advisor == {"ram_available_min_bytes": 1536 * 2**20, "ram_available_fraction": 0.25}

    again = SettingsPage(SettingsHub())
    qtbot.addWidget(again)
    assert again.thresholds_section.spins["ram_available_min_bytes"].value() == 1536.0
    assert again.thresholds_section.spins["ram_available_fraction"].value() == 25.0
    assert again.settings() == settings_mod.load(env=False).settings

    # A value that is no whole number of MiB, left alone, is written back exactly.
    data = json.loads(paths.settings_file().read_text())
    data["advisor"]["uss_growth_bytes_per_min"] = 1_000_000
    paths.settings_file().write_text(json.dumps(data))
    page.hub.reload()  # written behind the window's back: the hub reads the file again
    page.reload()
    assert growth.value() == 1.0  # 0.95 MiB, as one decimal shows it
    page.thresholds_section.spins["lag_ms"].setValue(900)
    assert page.save()
    advisor = settings_mod.load(env=False).settings.advisor
    assert advisor["uss_growth_bytes_per_min"] == 1_000_000 and advisor["lag_ms"] == 900


def test_worker_nice_saves_loads_and_refuses_out_of_range(
    home: Path, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POOLDESK_WORKER_NICE", raising=False)
    page = SettingsPage(SettingsHub())
    qtbot.addWidget(page)
    page.show()
    assert page.timings_section.nice_spin.value() == 10  # the backend's default
    assert page.timings_section.nice_note.isHidden()
    assert "19 is the lowest" in page.timings_section.nice_spin.toolTip()
    for bad in (25, -1):
        page.timings_section.nice_spin.setValue(bad)
        _, nice_error = page.field_errors.fields["worker_nice"]
        assert nice_error.isVisible() and not page.save_button.isEnabled()
        assert "Must be between 0" in nice_error.text()
        assert page.save() is False and not paths.settings_file().exists()
    page.timings_section.nice_spin.setValue(15)
    assert page.field_errors.fields["worker_nice"][1].isHidden() and page.save_button.isEnabled()
    with qtbot.waitSignal(page.saved):
        qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    assert json.loads(paths.settings_file().read_text())["worker_nice"] == 15
    assert settings_mod.load(env=False).settings.worker_nice == 15
    again = SettingsPage(SettingsHub())
    qtbot.addWidget(again)
    assert again.timings_section.nice_spin.value() == 15

    monkeypatch.setenv("POOLDESK_WORKER_NICE", "5")  # wins for the workers: said so
    page.reload()
    assert (
        page.timings_section.nice_note.isVisible() and page.timings_section.nice_spin.value() == 15
    )
    assert "POOLDESK_WORKER_NICE=5 is set" in page.timings_section.nice_note.text()


def test_one_settings_object_read_once_and_pushed(
    home: Path, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub reads settings.json once; the page and the metrics toggle work from it, and a
    change saved by one (the toggle's port) is not written back stale by the other."""
    from PySide6.QtCore import QObject, Signal

    from pooldesk.desktop.views.metrics_toggle import MetricsToggle

    class FakeTelemetry(QObject):
        metricsServing = Signal(str, str)
        metricsPortRequested = Signal(int)

    hub = SettingsHub()
    pushed: list[settings_mod.Settings] = []
    hub.settingsChanged.connect(pushed.append)

    def no_reading(*_args: object, **_kw: object) -> None:
        raise AssertionError("settings.json read again")

    monkeypatch.setattr(settings_mod, "load", no_reading)
    page = SettingsPage(hub)
    qtbot.addWidget(page)
    telemetry = FakeTelemetry()
    toggle = MetricsToggle(page, hub, telemetry)
    assert not toggle.action.isChecked()

    page.timings_section.stop_spin.setValue(90)  # typed, not saved yet
    with qtbot.waitSignal(telemetry.metricsPortRequested) as asked:
        toggle.action.trigger()  # File ▸ Serve Prometheus metrics, meanwhile
    port = asked.args[0]
    assert port and pushed[-1].metrics_port == port and hub.file.metrics_port == port
    assert page.timings_section.stop_spin.value() == 90  # the form keeps what was typed
    assert page.save(), page.problems_label.text()
    written = json.loads(paths.settings_file().read_text())
    assert (written["stop_timeout"], written["metrics_port"]) == (90.0, port)
    assert pushed[-1].stop_timeout == 90.0

    # What runs has the environment on top; what the page edits is the file's.
    monkeypatch.setenv("POOLDESK_BROKER_URL", "redis://elsewhere:6379/0")
    assert hub.effective().broker_url == "redis://elsewhere:6379/0"
    assert hub.file.broker_url is None


def test_password_split_round_trips() -> None:
    for url in ("redis://:pw@h:1/0", "amqp://user:p%40ss@h//", "redis://h/0", "rediss://u@h"):
        assert join_password(*split_password(url)) == url
    assert split_password("amqp://user:pw@h//") == ("amqp://user@h//", "pw")


# -- real broker and workers -----------------------------------------------------------------
@pytest.mark.slow
def test_preset_starts_a_real_worker_and_geometry_is_remembered(home: Path, qtbot: QtBot) -> None:
    paths.settings_file().write_text(
        json.dumps(
            {"presets": [{"name": "Orch", "pool": "solo", "concurrency": 1, "queues": ["o"]}]}
        )
    )
    window = _window(qtbot)
    page = window.workers_page
    # The sidebar: every page with its icon; the toolbar only where a page has actions.
    assert all(not window.nav.item(r).icon().isNull() for r in range(window.nav.count()))
    for shown, visible in ((window.overview_page, False), (window.settings_page, False)):
        window.nav.setCurrentRow(window.pages.indexOf(shown))
        assert window.toolbar.isVisible() is visible
    window.nav.setCurrentRow(window.pages.indexOf(page))
    assert window.toolbar.isVisible()
    qtbot.waitUntil(lambda: "— up" in window.broker_label.text(), timeout=20_000)
    button = window.toolbar.widgetForAction(page.preset_action)
    assert isinstance(button, QToolButton) and button.isEnabled()
    assert button.popupMode() == QToolButton.ToolButtonPopupMode.InstantPopup
    [action] = page.presets_menu.actions()
    assert action.text() == "Orch: solo × 1 on o"
    action.trigger()
    qtbot.waitUntil(lambda: _state_of(window, "orch-1") == "online", timeout=30_000)
    info = page.model.worker(page.model.row_of("orch-1"))
    assert info is not None and info.pid and proc.alive(info.pid)

    window.stopRequested.emit("orch-1")
    qtbot.waitUntil(lambda: _state_of(window, "orch-1") == "stopped", timeout=30_000)
    assert not proc.alive(info.pid)

    # Presets saved on the Settings page (Ctrl+,) are offered at once.
    window.settings_action.trigger()
    assert window.pages.currentWidget() is window.settings_page
    window.settings_page.presets_section.table.item(0, 2).setText("")  # invalid: nothing saved
    assert not window.settings_page.save_button.isEnabled()
    window.settings_page.presets_section.table.item(0, 0).setText("Orchestra")
    window.settings_page.presets_section.table.item(0, 2).setText("1")
    assert window.settings_page.save()
    assert [a.text() for a in page.presets_menu.actions()] == ["Orchestra: solo × 1 on o"]

    # No tray on the offscreen platform; notifications are then a no-op.
    assert window.tray.icon is None
    window.tray.notify_batch(type("R", (), {"id": "b1", "kind": "invoices", "state": "completed"}))

    # Geometry and the last page, for the next window.
    window.resize(700, 450)  # the offscreen screen is 800 × 600
    window.nav.setCurrentRow(window.pages.indexOf(window.batches_page))
    window.close()
    assert not window.controller.is_running()

    second = _window(qtbot)
    assert second.pages.currentWidget() is second.batches_page
    assert second.toolbar.isVisible()  # the Batches page has actions
    assert (second.width(), second.height()) == (700, 450)
    second.close()
    QApplication.processEvents()


@pytest.mark.slow
def test_an_unreadable_settings_file_is_said_once_and_defaults_run(
    home: Path, qtbot: QtBot
) -> None:
    paths.settings_file().write_text("{not json")
    window = _window(qtbot)
    qtbot.waitUntil(lambda: bool(window.open_messages()), timeout=10_000)
    [box] = window.open_messages()
    assert "was unreadable" in box.text() and "defaults are in use" in box.text()
    assert window.hub.file == settings_mod.Settings()
    box.close()
    window.close()
    assert not window.controller.is_running()
    QApplication.processEvents()


@pytest.mark.slow
def test_close_question_stop_workers_stops_them(home: Path, qtbot: QtBot) -> None:
    window = _window(qtbot)
    window.startRequested.emit(WorkerSpec("closeme", "solo", 1, ("default",)))
    qtbot.waitUntil(lambda: _state_of(window, "closeme") == "online", timeout=30_000)
    info = window.workers_page.model.worker(window.workers_page.model.row_of("closeme"))
    assert info is not None and info.pid and proc.alive(info.pid)

    window.closing.answer = "ask"
    assert not window.close()  # the question is open; nothing closed yet
    qtbot.waitUntil(lambda: window.closing.box is not None and window.closing.box.isVisible())
    box = window.closing.box
    assert box is not None and box.defaultButton() is window.closing.question_button("leave")
    qtbot.mouseClick(window.closing.question_button("cancel"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.closing.box is None)
    assert window.isVisible() and window.controller.is_running()

    window.close()
    qtbot.waitUntil(lambda: window.closing.box is not None)
    qtbot.mouseClick(window.closing.question_button("stop"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: window.closing.progress is not None or window.closing.closed, timeout=5_000
    )
    qtbot.waitUntil(lambda: not window.controller.is_running(), timeout=40_000)
    assert not window.isVisible()
    record = RecordStore().load("closeme")
    assert record is not None and record.supervisor_pid
    assert not proc.alive(info.pid) and not proc.alive(record.supervisor_pid)
    QApplication.processEvents()


def test_appearance_is_chosen_on_the_settings_page_and_applies_when_saved(
    home: Path, qtbot: QtBot
) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    system_dark = resources.is_dark(app.palette())
    window = _window(qtbot)
    page = window.settings_page
    combo = page.look_section.combo
    assert combo.currentData() == "system" and combo.currentText() == "Like the system"
    wanted = "light" if system_dark else "dark"
    try:
        combo.setCurrentIndex(combo.findData(wanted))
        assert resources.is_dark(app.palette()) == system_dark  # nothing before Save
        qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
        assert resources.is_dark(app.palette()) == (wanted == "dark")  # at once, no restart
        assert json.loads(paths.settings_file().read_text())["appearance"] == wanted
        assert "appearance apply now" in page.status_label.text()
    finally:
        window.apply_settings(settings_mod.Settings(appearance="system"))
    assert resources.is_dark(app.palette()) == system_dark
