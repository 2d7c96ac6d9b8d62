"""Settings ▸ Projects shows a project of another fleet host with the check its agent ran
there: the broker masked and "checked on host-a 3 min ago", never the password."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from pytestqt.qtbot import QtBot

from pooldesk.backend.projects.model import Project
from pooldesk.backend.projects.store import ProjectStore
from pooldesk.desktop.views.projects_section import COLUMNS, ProjectsSection

SECRET = "pw-h1-window"


def test_a_host_project_shows_its_agents_check(home: Path, qtbot: QtBot) -> None:
    store = ProjectStore()
    store.add(Project("ledger", "/opt/py/bin/python", "/srv/l", "ledger.celery:app", host="host-a"))
    section = ProjectsSection()
    qtbot.addWidget(section)
    broker, checked = COLUMNS.index("Broker"), COLUMNS.index("Checked")
    assert section.table.item(0, broker).text() == "not checked yet"
    assert section.table.item(0, checked).text() == "not checked yet"

    reply = {"ok": True, "python": "3.12.1", "celery": "5.4.0", "tasks": [], "pools": {}}
    reply |= {"broker_url": f"redis://:{SECRET}@10.0.0.5:6379/0", "queues": ["celery"]}
    store.save_host_check("ledger", "host-a", {**reply, "checked_at": time.time() - 185})
    section.reload()
    section.table.selectRow(0)
    assert section.table.item(0, broker).text() == "redis://:****@10.0.0.5:6379/0"
    assert section.table.item(0, checked).text() == "checked on host-a 3 min ago"
    report = section.report_label.text()
    assert report.startswith("Checked on host-a 3 min ago, by its agent.")
    assert "redis://:****@10.0.0.5:6379/0" in report and SECRET not in report
