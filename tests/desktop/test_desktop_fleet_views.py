"""The fleet's controls on the real pages, fed as the fleet service's signals would feed them:
an offline host cannot be picked in the Start dialog or the project dialog, the Host column and
filter, a silent host's workers with every action off, the Overview's machine switch drawing a
host's samples, a host project's Check sent to its agent and greyed without the key."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from pooldesk.backend.fleet.key import NO_KEY
from pooldesk.backend.fleet.roster import UNREACHABLE, FleetRegistry, FleetWorker
from pooldesk.backend.workers.info import WorkerInfo
from pooldesk.desktop.models.workers_model import HOST
from pooldesk.desktop.views.overview_page import OverviewPage
from pooldesk.desktop.views.start_dialog import StartDialog
from pooldesk.desktop.views.workers_page import WorkersPage

HOSTS = [
    {"name": "web-2", "online": True, "cores": 8},
    {"name": "web-3", "online": False, "cores": 4},
]


def _hosted(name: str, host: str, state: str = "online") -> FleetWorker:
    return FleetWorker(name, f"{name}@{host}", 7, "prefork", 2, ["q"], state, True, host=host)


def test_the_start_dialog_greys_an_offline_host_and_every_host_without_a_key(
    qtbot: QtBot,
) -> None:
    dialog = StartDialog(existing={"w1": "online"})
    qtbot.addWidget(dialog)
    assert not dialog.host_combo.isVisibleTo(dialog)  # one machine: nothing to pick
    dialog.set_hosts(HOSTS, "", {"web-2": {"w1": "online"}})
    assert dialog.host_combo.isVisibleTo(dialog)
    model = dialog.host_combo.model()
    online, offline = dialog.host_combo.findData("web-2"), dialog.host_combo.findData("web-3")
    assert model.item(online).isEnabled() and not model.item(offline).isEnabled()
    assert dialog.host_combo.itemText(offline) == "web-3 (offline)"
    assert "offline" in dialog.host_combo.itemData(offline, Qt.ItemDataRole.ToolTipRole)
    dialog.host_combo.setCurrentIndex(online)
    assert dialog.host() == "web-2"
    dialog.name_edit.setText("w1")  # running there: refused, as here
    assert any("already running" in p for p in dialog.problems())

    keyless = StartDialog()
    qtbot.addWidget(keyless)
    keyless.set_hosts(HOSTS, NO_KEY)
    index = keyless.host_combo.findData("web-2")
    assert not keyless.host_combo.model().item(index).isEnabled()
    assert keyless.host_combo.itemData(index, Qt.ItemDataRole.ToolTipRole) == NO_KEY
    assert keyless.host() == ""
    assert keyless.host_hint.text() == "Other hosts cannot be picked: no fleet key (watch only)."


def test_the_host_column_filter_and_a_silent_hosts_workers(qtbot: QtBot) -> None:
    page = WorkersPage()
    qtbot.addWidget(page)
    here = WorkerInfo("h1", "h1@me", 5, "solo", 1, ["q"], "online", False)
    page.set_workers([here, _hosted("a1", "web-2"), _hosted("b1", "web-3", UNREACHABLE)])
    assert page.table.isColumnHidden(HOST) and page.filter_bar.isHidden()
    page.set_hosts(HOSTS)
    assert not page.table.isColumnHidden(HOST) and not page.filter_bar.isHidden()
    model = page.model
    assert [model.index(r, HOST).data() for r in range(3)] == ["local", "web-2", "web-3"]
    assert page.set_host_filter("web-2")
    assert [page.table.isRowHidden(r) for r in range(3)] == [True, False, True]
    assert page.set_host_filter(None)

    page.table.selectRow(model.row_of("a1", host="web-2"))
    assert page.stop_action.isEnabled() and page.restart_action.isEnabled()
    with qtbot.waitSignal(page.hostStopRequested) as stop:
        page.stop_action.trigger()
    assert stop.args == ["web-2", "a1"]
    page.table.selectRow(model.row_of("b1", host="web-3"))
    assert not page.stop_action.isEnabled() and not page.resize_action.isEnabled()

    page.set_fleet_block(NO_KEY)
    page.table.selectRow(model.row_of("a1", host="web-2"))
    assert not page.stop_action.isEnabled()
    assert page.stop_action.toolTip() == f"Host web-2: {NO_KEY}"
    page.table.selectRow(model.row_of("h1"))
    assert page.stop_action.isEnabled()  # this machine's workers need no key


def test_the_overview_charts_the_chosen_hosts_samples(qtbot: QtBot) -> None:
    page = OverviewPage()
    qtbot.addWidget(page)
    registry = FleetRegistry()
    now = time.time()
    for i in range(5):
        registry.feed(
            {
                "kind": "sample",
                "host": "web-2",
                "ts": now - 5 + i,
                "cpu_per_core": [10.0 * i, 20.0, 30.0],
                "memory_used_bytes": 2**30,
                "memory_total_bytes": 4 * 2**30,
            }
        )
    page.set_host_source(registry.history.source)
    assert page.host_combo.isHidden()
    page.set_hosts(registry.rows())
    assert not page.host_combo.isHidden() and page.select_machine("web-2")
    assert page.cpu_chart.title_label.text() == "System CPU · web-2"
    page.refresh_charts()
    _, y = page.cpu_chart.curve("total").getData()
    assert list(y)[-1] == pytest.approx((40.0 + 20.0 + 30.0) / 3)
    assert [k for k in page.cpu_chart.curve_keys() if k.startswith("cpu")] == [
        "cpu0",
        "cpu1",
        "cpu2",
    ]
    _, used = page.ram_chart.curve("used").getData()
    assert list(used)[-1] == pytest.approx(1.0)  # GiB


def test_with_fleet_hosts_the_workers_page_fits_1280_by_720(qtbot: QtBot, home: object) -> None:
    from PySide6.QtWidgets import QApplication

    from pooldesk.desktop import resources
    from pooldesk.desktop.services.tasks import TasksController
    from pooldesk.desktop.settings_hub import SettingsHub
    from pooldesk.desktop.views.main_window import MainWindow
    from pooldesk.desktop.views.tasks_page import TasksPage
    from tests.desktop import screen_scene

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    app.setStyleSheet(resources.stylesheet())
    tasks = TasksPage(TasksController(home / "tasks.db", manage_recorder=False))  # type: ignore[operator]
    window = MainWindow(SettingsHub(), tasks)
    qtbot.addWidget(window)
    try:
        screen_scene.feed(window)
        page = window.workers_page
        page.set_hosts([{"name": "build-server-07", "online": True}])
        page.set_workers([*screen_scene.workers(), _hosted("invoices-9", "build-server-07")])
        window.resize(1280, 720)
        window.show()
        window.nav.setCurrentRow(window.pages.indexOf(page))
        qtbot.waitExposed(window)
        for _ in range(3):
            QApplication.processEvents()
        qtbot.wait(20)
        bar = page.table.horizontalScrollBar()
        h = page.table.horizontalHeader()
        sizes = [h.sectionSize(i) for i in range(h.count())]
        width = page.table.viewport().width()
        assert not bar.isVisible(), f"{bar.maximum()} px more: columns {sizes} in {width} px"
    finally:
        tasks.shutdown()
        app.setStyleSheet("")


def test_the_project_dialog_offers_hosts_as_the_start_dialog_does(qtbot: QtBot, home) -> None:
    """Its Host choice greys an offline host, and every host without the fleet key (the
    key's words, as the Start dialog says them); an edit keeps the project on its host."""
    from pooldesk.desktop.views.project_dialog import ProjectDialog

    dialog = ProjectDialog()
    qtbot.addWidget(dialog)
    assert not dialog.host_combo.isVisibleTo(dialog)  # one machine: nothing to pick
    dialog.set_hosts(HOSTS, "")
    model = dialog.host_combo.model()
    online, offline = dialog.host_combo.findData("web-2"), dialog.host_combo.findData("web-3")
    assert model.item(online).isEnabled() and not model.item(offline).isEnabled()
    assert dialog.host_combo.itemText(offline) == "web-3 (offline)"
    assert all(button.isEnabled() for button in dialog.browse_buttons)
    dialog.host_combo.setCurrentIndex(online)
    assert not any(button.isEnabled() for button in dialog.browse_buttons)
    dialog.name_edit.setText("shop")
    dialog.python_edit.setText("venv/bin/python")  # a path there must be absolute
    dialog.workdir_edit.setText("/srv/shop")  # not on this machine: its agent checks it
    dialog.app_edit.setText("shop.celery:app")
    assert dialog.problems() == ["python 'venv/bin/python': give an absolute path"]
    dialog.python_edit.setText("/srv/shop/venv/bin/python")
    assert dialog.problems() == [] and dialog.save_button.isEnabled()

    keyless = ProjectDialog()
    qtbot.addWidget(keyless)
    keyless.set_hosts(HOSTS, NO_KEY)
    index = keyless.host_combo.findData("web-2")
    assert not keyless.host_combo.model().item(index).isEnabled()
    assert keyless.host_combo.itemData(index, Qt.ItemDataRole.ToolTipRole) == NO_KEY
    assert keyless.host() == ""
    assert keyless.host_hint.text() == "Other hosts cannot be picked: no fleet key (watch only)."


def test_a_host_projects_check_and_remove_go_to_its_agent_and_wait_for_the_key(
    qtbot: QtBot, home
) -> None:
    """Settings ▸ Projects, fed as the fleet service feeds it: a host project's Check and
    Remove are greyed with the key's words without it; with it, Check asks its agent (no check
    runs here) and the reply is kept and shown; Edit opens the dialog on its host."""
    from pooldesk.backend.projects.model import Project
    from pooldesk.backend.projects.store import ProjectStore
    from pooldesk.desktop.views.projects_section import COLUMNS, ProjectsSection

    store = ProjectStore()
    store.add(Project("ledger", "/opt/py/bin/python", "/srv/l", "ledger.celery:app", host="web-2"))
    section = ProjectsSection()
    qtbot.addWidget(section)
    section.set_hosts(HOSTS)
    section.set_fleet_block(NO_KEY)
    section.table.selectRow(0)
    for button in (section.check_button, section.remove_button):
        assert not button.isEnabled() and button.toolTip() == NO_KEY
    assert section.edit_button.isEnabled()
    section.open_edit()
    dialog = section.dialog
    assert dialog is not None and dialog.host() == "web-2" and not dialog.host_combo.isEnabled()
    assert dialog.host_combo.currentText() == "web-2 (no key)"
    assert not dialog.save_button.isEnabled()
    assert f"host web-2: {NO_KEY}" in dialog.problems()
    dialog.reject()

    section.set_fleet_block("")
    assert section.check_button.isEnabled()
    with qtbot.waitSignal(section.hostRequested) as asked:
        section.check_button.click()
    assert asked.args == ["web-2", "project_check", "ledger", {"name": "ledger"}]
    assert not section.check_button.isEnabled()  # once at a time
    assert store.last_check("ledger") is None  # nothing ran here
    check = {"ok": True, "python": "3.12.1", "celery": "5.4.0", "tasks": [], "pools": {}}
    check |= {"broker_url": "redis://:pw@10.0.0.5:6379/0", "queues": ["celery"]}
    check |= {"checked_at": time.time()}
    reply = {"check": check}
    section.host_replied("project_check", "web-2", "ledger", True, "the app imports", reply)
    assert section.status_label.text() == "Checked ledger on host web-2: the app imports."
    assert section.table.item(0, COLUMNS.index("Broker")).text() == "redis://:****@10.0.0.5:6379/0"
    assert section.check_button.isEnabled()
