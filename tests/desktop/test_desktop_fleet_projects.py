"""A project on another host, registered from the window (issue 20's "Done when": from one
panel… registers their project there). A real agent (``host-x``, its own home) on the panel's
managed broker: the project dialog adds a project on host-x with an env file there, its agent
checks it and the window shows that check (broker masked); Settings ▸ Projects edits it, checks
it again and removes it, each through the agent. The app's broker password is in no file of the
panel and nothing is checked on this machine."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from pooldesk.backend.fleet.key import KEY_ENV
from pooldesk.backend.projects.store import ProjectStore
from pooldesk.desktop.views.projects_section import COLUMNS, ProjectsSection
from tests.desktop.fleet_agent import (  # noqa: F401 (fleet_fixture: the module's agent)
    HOST_X,
    WAIT_MS,
    Fleet,
    fleet_fixture,
    host_heard,
    open_window,
)

pytestmark = pytest.mark.slow
PASSWORD = "pw-h4-window"
NAME = "hx-shop"
APP = "pooldesk.backend.celery_app:app"


def _panel_files(fleet: Fleet) -> list[Path]:
    return [p for p in (fleet.root / "panel").rglob("*") if p.is_file() and NAME in p.name]


def _cell(section: ProjectsSection, column: str) -> str:
    item = section.table.item(0, COLUMNS.index(column))
    return item.text() if item is not None else ""


def _saved_there(fleet: Fleet) -> dict:
    return json.loads((fleet.root / HOST_X / "projects" / f"{NAME}.json").read_text())


def test_a_project_is_added_checked_edited_and_removed_on_a_host_from_the_window(
    fleet: Fleet, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(KEY_ENV, str(fleet.key))
    env_file = tmp_path / "app.env"  # on host-x (this machine here): the app's own broker
    env_file.write_text(f"CELERY_BROKER_URL=redis://:{PASSWORD}@127.0.0.1:1/0\n")
    window = open_window(qtbot)
    host_heard(qtbot, window)
    qtbot.waitUntil(lambda: window.workers_page.fleet_block == "", timeout=WAIT_MS)
    window.nav.setCurrentRow(window.pages.indexOf(window.settings_page))
    section = window.settings_page.projects_section
    qtbot.waitUntil(lambda: any(r.get("name") == HOST_X for r in section._hosts), timeout=WAIT_MS)

    # Add, on host-x: the paths are there, the pickers off, extra env refused (CLI's rule).
    section.open_add()
    dialog = section.dialog
    assert dialog is not None and dialog.host_combo.isVisibleTo(dialog)
    index = dialog.host_combo.findData(HOST_X)
    assert dialog.host_combo.model().item(index).isEnabled()
    dialog.host_combo.setCurrentIndex(index)
    assert dialog.host_hint.text().startswith(f"Paths as they are on {HOST_X};")
    assert not any(button.isEnabled() for button in dialog.browse_buttons)
    dialog.name_edit.setText(NAME)
    dialog.python_edit.setText(sys.executable)
    dialog.workdir_edit.setText(str(tmp_path))
    dialog.app_edit.setText(APP)
    dialog.env_file_edit.setText(str(env_file))
    dialog.env_edit.setPlainText("TOKEN=abc")
    assert (
        "extra env on another host: env values are not sent through the broker; give "
        "--env-file, a file on that host"
    ) in dialog.problems_label.text()
    assert not dialog.save_button.isEnabled()
    dialog.env_edit.setPlainText("")
    assert dialog.save_button.isEnabled(), dialog.problems()

    # An app that does not import there: the agent's answer in the dialog, nothing kept here.
    dialog.app_edit.setText("h4_no_such_module:app")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert not dialog.save_button.isEnabled()  # once at a time
    problems = dialog.problems_label
    qtbot.waitUntil(
        lambda: problems.text().startswith(f"• Not saved on {HOST_X}:"), timeout=WAIT_MS
    )
    assert "h4_no_such_module" in problems.text() and PASSWORD not in problems.text()
    assert section.dialog is dialog and ProjectStore().load(NAME) is None
    assert not (fleet.root / HOST_X / "projects" / f"{NAME}.json").exists()
    dialog.app_edit.setText(APP)
    with qtbot.waitSignal(section.hostRequested) as sent:
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    host, op, name, params = sent.args
    assert (host, op, name) == (HOST_X, "project_add", NAME)
    assert params["env_file"] == str(env_file) and "env" not in params
    assert "through its agent" in dialog.report_label.text()
    qtbot.waitUntil(lambda: section.dialog is None, timeout=WAIT_MS)  # saved: closed
    assert section.status_label.text() == f"Project {NAME} saved on host {HOST_X}."
    assert _saved_there(fleet)["host"] == HOST_X  # registered on host-x, by its agent
    mirror = ProjectStore().load(NAME)
    assert mirror is not None and mirror.host == HOST_X and mirror.env == {}
    assert _cell(section, "Broker") == "redis://:****@127.0.0.1:1/0"
    assert _cell(section, "Checked").startswith(f"checked on {HOST_X}")
    report = section.report_label.text()
    assert report.startswith(f"Checked on {HOST_X}") and "by its agent" in report
    assert "redis://:****@127.0.0.1:1/0" in report
    first = ProjectStore().host_check(NAME)
    assert first is not None and first["ok"]

    # Edit: the dialog opens on host-x (fixed there); its agent replaces its own record.
    section.table.selectRow(0)
    section.open_edit()
    dialog = section.dialog
    assert dialog is not None and dialog.host() == HOST_X and not dialog.host_combo.isEnabled()
    dialog.managed_check.setChecked(True)
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: section.dialog is None, timeout=WAIT_MS)
    assert _saved_there(fleet)["managed_broker"] is True
    assert ProjectStore().get(NAME).managed_broker

    # Check again, from Settings: by host-x's agent, its newer check kept beside the mirror.
    section.table.selectRow(0)
    assert section.check_button.isEnabled()
    qtbot.mouseClick(section.check_button, Qt.MouseButton.LeftButton)
    assert section.status_label.text().startswith(f"Checking {NAME} on {HOST_X}…")
    expected = f"Checked {NAME} on host {HOST_X}: the app imports."
    qtbot.waitUntil(lambda: section.status_label.text() == expected, timeout=WAIT_MS)
    again = ProjectStore().host_check(NAME)
    assert again is not None and again["checked_at"] > first["checked_at"]
    assert not (fleet.root / "panel" / "projects" / f"{NAME}.check.json").exists()  # not here
    assert sorted(p.name for p in _panel_files(fleet)) == [f"{NAME}.json", f"{NAME}.json"]
    for path in _panel_files(fleet):
        assert PASSWORD not in path.read_text(errors="replace"), path

    # Remove: asked first, then its agent forgets it there and the mirror goes.
    section.table.selectRow(0)
    section.remove_button.click()
    box = section.confirm_box
    assert box is not None and box.text() == f"Remove project {NAME} from host {HOST_X}?"
    box.button(QMessageBox.StandardButton.Yes).click()
    expected = f"Project {NAME} removed from host {HOST_X}."
    qtbot.waitUntil(lambda: section.status_label.text() == expected, timeout=WAIT_MS)
    assert not (fleet.root / HOST_X / "projects" / f"{NAME}.json").exists()
    assert _panel_files(fleet) == [] and section.table.rowCount() == 0
    assert not window.open_messages(), [m.text() for m in window.open_messages()]
    window.close()
