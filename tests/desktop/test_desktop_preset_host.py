"""A preset names the host its workers start on (issue 20): Settings ▸ Presets offers this
machine and the hosts the fleet service heard (an offline or unheard saved host marked, never
dropped), refuses a name the fleet would refuse, saves the host with the preset; Workers ▸
Start from preset starts it there, and the user can still start it here or on another host."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QComboBox, QMenu
from pytestqt.qtbot import QtBot

from pooldesk.backend import paths
from pooldesk.backend import settings as settings_mod
from pooldesk.desktop.settings_hub import SettingsHub
from pooldesk.desktop.views.settings.page import SettingsPage
from pooldesk.desktop.views.settings.presets import HOST
from pooldesk.desktop.views.workers_page import WorkersPage

HOSTS = [{"name": "host-a", "online": True}, {"name": "host-b", "online": False}]


def _host_combo(page: SettingsPage, row: int) -> QComboBox:
    combo = page.presets_section.table.cellWidget(row, HOST)
    assert isinstance(combo, QComboBox)
    return combo


def _items(combo: QComboBox) -> list[str]:
    return [combo.itemText(i) for i in range(combo.count())]


def test_a_preset_host_is_picked_checked_saved_and_kept_when_not_heard(
    home: Path, qtbot: QtBot
) -> None:
    page = SettingsPage(SettingsHub())
    qtbot.addWidget(page)
    page.show()
    table = page.presets_section.table
    assert table.isColumnHidden(HOST)  # one machine: nothing to pick
    page.presets_section.set_hosts(HOSTS)
    assert not table.isColumnHidden(HOST) and page.status_label.text() == ""
    combo = _host_combo(page, 0)
    assert _items(combo) == ["This machine", "host-a", "host-b (offline)"]
    assert combo.currentText() == "This machine"

    # A name the fleet would refuse: said under the table, nothing saved.
    combo1 = _host_combo(page, 1)
    combo1.setEditText("bad host!")
    assert "preset 2 (Monitoring): host 'bad host!' is not a host name" in (
        page.presets_section.error_label.text()
    )
    assert not page.save_button.isEnabled() and page.save() is False
    assert not paths.settings_file().exists()
    combo1.setEditText("host-c")  # typed, not heard yet: a valid name is accepted
    combo.setCurrentIndex(combo.findData("host-a"))
    assert page.save_button.isEnabled(), page.presets_section.error_label.text()
    assert page.save()

    saved = settings_mod.load(env=False).settings.presets
    assert [p.get("host") for p in saved] == ["host-a", "host-c", None]
    assert "host" not in json.loads(paths.settings_file().read_text())["presets"][2]

    # A fresh page, before any host is heard: the saved hosts show, marked, and stay saved.
    again = SettingsPage(SettingsHub())
    qtbot.addWidget(again)
    assert not again.presets_section.table.isColumnHidden(HOST)
    assert _host_combo(again, 0).currentText() == "host-a (not heard yet)"
    again.presets_section.set_hosts([{"name": "host-a", "online": False}])
    assert _host_combo(again, 0).currentText() == "host-a (offline)"
    assert _host_combo(again, 1).currentText() == "host-c (not heard yet)"
    assert again.settings().presets == saved  # nothing dropped, nothing changed


def test_an_old_file_without_hosts_loads_and_its_presets_start_here(
    home: Path, qtbot: QtBot
) -> None:
    old = {"presets": [{"name": "Orch", "pool": "solo", "concurrency": 1, "queues": ["o"]}]}
    paths.settings_file().parent.mkdir(parents=True, exist_ok=True)
    paths.settings_file().write_text(json.dumps(old))
    loaded = settings_mod.load(env=False)
    assert loaded.message is None and loaded.settings.presets == old["presets"]
    page = SettingsPage(SettingsHub())
    qtbot.addWidget(page)
    page.presets_section.set_hosts(HOSTS)
    assert _host_combo(page, 0).currentText() == "This machine"
    assert page.settings().presets == old["presets"]  # no "host" key appears


def _submenu(page: WorkersPage, title: str) -> QMenu:
    menu = next(a.menu() for a in page.presets_menu.actions() if a.text() == title)
    assert isinstance(menu, QMenu)
    return menu


def test_start_from_preset_preselects_its_host_and_lets_the_user_change_it(
    home: Path, qtbot: QtBot
) -> None:
    page = WorkersPage()
    qtbot.addWidget(page)
    presets = [
        {"name": "Orch", "pool": "solo", "concurrency": 1, "queues": ["o"], "host": "host-a"},
        {"name": "Bulk", "pool": "threads", "concurrency": 4, "queues": ["b"]},
    ]
    page.set_presets(presets)
    page.set_hosts(HOSTS)
    top = [a for a in page.presets_menu.actions() if a.menu() is None and not a.isSeparator()]
    assert [a.text() for a in top] == ["Orch: solo × 1 on o on host-a", "Bulk: threads × 4 on b"]
    with qtbot.waitSignal(page.hostStartRequested) as there:
        top[0].trigger()  # its own host, pre-selected
    assert there.args[0] == "host-a" and there.args[1].name == "orch-1"
    with qtbot.waitSignal(page.startRequested) as here:
        _submenu(page, "On this machine").actions()[0].trigger()  # changed: here
    assert here.args[0].name == "orch-2" and here.args[0].pool == "solo"
    with qtbot.assertNotEmitted(page.hostStartRequested), qtbot.waitSignal(page.startRequested):
        top[1].trigger()  # a preset without a host starts here
    with qtbot.waitSignal(page.hostStartRequested) as other:
        _submenu(page, "On host-a").actions()[1].trigger()
    assert other.args[0] == "host-a" and other.args[1].name == "bulk-2"

    # Its host goes offline: the preset is greyed with the reason; here still works.
    page.set_hosts([{"name": "host-a", "online": False}])
    first = page.presets_menu.actions()[0]
    assert not first.isEnabled() and first.text().endswith("on host-a (offline)")
    assert "does not answer" in first.toolTip()
    assert [a.text() for a in page.presets_menu.actions() if a.menu()] == ["On this machine"]
    page.set_fleet_block("no fleet key: this panel can watch hosts")
    assert page.presets_menu.actions()[0].text().endswith("(no fleet key)")


def _project_combo(page: SettingsPage, row: int) -> QComboBox:
    combo = page.presets_section.table.cellWidget(row, 4)
    assert isinstance(combo, QComboBox)
    return combo


def test_a_presets_project_must_be_registered_on_its_host(
    home: Path, tmp_path: Path, qtbot: QtBot
) -> None:
    """As the Start dialog lists only the host's projects: a preset whose project is another
    host's is a problem under the table, in the dialog's words, and Save stays off."""
    import sys

    from pooldesk.backend.fleet.panel_projects import mirror
    from pooldesk.backend.projects.model import Project
    from pooldesk.backend.projects.store import ProjectStore

    store = ProjectStore()
    store.add(Project("ledger", sys.executable, str(tmp_path), "ledger.celery:app"))
    shop = Project("shop", "/srv/venv/bin/python", "/srv/shop", "shop.celery:app")
    assert mirror({"project": shop.to_dict()}, "host-a", store) is None

    page = SettingsPage(SettingsHub())
    qtbot.addWidget(page)
    page.show()
    section = page.presets_section
    assert section.table.isColumnHidden(HOST)  # no host heard, no host project picked
    name = section.presets()[0]["name"]
    _project_combo(page, 0).setCurrentText("shop")  # host-a's, on this machine
    assert not section.table.isColumnHidden(HOST)  # the way out must be visible
    assert section.error_label.text() == "• " + (
        f"preset 1 ({name}): shop is registered on host-a, not here: set Host to host-a, "
        "or pick another project"
    )
    assert not page.save_button.isEnabled()

    section.set_hosts(HOSTS)
    combo = _host_combo(page, 0)
    combo.setCurrentIndex(combo.findData("host-a"))
    assert section.error_label.text() == "" and page.save_button.isEnabled()
    _project_combo(page, 0).setCurrentText("ledger")  # this machine's, on host-a
    assert section.error_label.text() == "• " + (
        f"preset 1 ({name}): ledger is registered on this machine, not on host-a: "
        "set Host to This machine, or pick another project"
    )
    combo.setCurrentIndex(combo.findData(""))
    assert section.error_label.text() == "" and page.save()


def test_start_from_preset_greys_a_preset_where_its_project_is_not_registered(
    home: Path, tmp_path: Path, qtbot: QtBot
) -> None:
    """Under "On this machine" a preset of host-a's project would be refused at start: it is
    greyed with the Start dialog's sentence instead; on host-a it starts."""
    from pooldesk.backend.fleet.panel_projects import mirror
    from pooldesk.backend.projects.model import Project

    shop = Project("shop", "/srv/venv/bin/python", "/srv/shop", "shop.celery:app")
    assert mirror({"project": shop.to_dict()}, "host-a") is None
    page = WorkersPage()
    qtbot.addWidget(page)
    shop_preset = {"name": "Shop", "pool": "prefork", "concurrency": 2, "queues": ["s"]}
    page.set_presets([{**shop_preset, "project": "shop", "host": "host-a"}])
    page.set_hosts(HOSTS)
    [here] = _submenu(page, "On this machine").actions()
    assert not here.isEnabled() and here.text().endswith("(not registered there)")
    assert here.toolTip() == "shop is registered on host-a, not here"
    [there] = _submenu(page, "On host-a").actions()
    assert there.isEnabled()
    with qtbot.waitSignal(page.hostStartRequested) as started:
        there.trigger()
    assert started.args[0] == "host-a" and started.args[1].project == "shop"
