"""The Start dialog's project list follows its Host choice: this machine lists the demo and
this machine's projects; a fleet host lists the demo and the projects registered there (the
panel's mirrors, ``backend/fleet/panel_projects.py``). Switching host keeps the picked project
when it exists there, else falls back to the demo with a note saying where it is registered.
Fed as the fleet service feeds the dialog: host rows, then the agent's reply mirrored."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from pytestqt.qtbot import QtBot

from pooldesk.backend.fleet.panel_projects import mirror
from pooldesk.backend.projects.check import CheckResult
from pooldesk.backend.projects.model import DEMO, Project
from pooldesk.backend.projects.store import ProjectStore
from pooldesk.desktop.views.start_dialog import StartDialog

HOSTS = [{"name": "web-2", "online": True}, {"name": "web-3", "online": True}]


def _listed(dialog: StartDialog) -> list[str]:
    combo = dialog.project_combo
    return [str(combo.itemData(i)) for i in range(combo.count())]


def _pick(dialog: StartDialog, host: str) -> None:
    dialog.host_combo.setCurrentIndex(dialog.host_combo.findData(host))


@pytest.fixture
def projects(home: Path, tmp_path: Path) -> ProjectStore:
    """``ledger`` on this machine; ``shop`` and ``both`` registered on web-2 (as the agent's
    reply to ``project add --host web-2`` is mirrored), ``shop`` with the agent's check."""
    store = ProjectStore()
    store.add(Project("ledger", sys.executable, str(tmp_path), "ledger.celery:app"))
    check = CheckResult(
        ok=True,
        python="3.12.1",
        celery="5.5.0",
        broker_url="redis://:secret@10.0.0.2:6379/0",
        default_queue="celery",
        tasks=[{"name": "shop.tasks.bill", "queue": "billing"}],
        pools={"prefork": None, "gevent": "gevent is not installed in this environment"},
    ).to_dict()
    for name, sent in (("shop", check), ("both", None)):
        saved = Project(name, "/srv/venv/bin/python", "/srv/app", f"{name}.celery:app").to_dict()
        assert mirror({"project": saved, "check": sent}, "web-2", store) is None
    return store


def test_the_project_list_follows_the_host(qtbot: QtBot, projects: ProjectStore) -> None:
    dialog = StartDialog(project="shop")  # last started on web-2; the dialog opens here
    qtbot.addWidget(dialog)
    assert _listed(dialog) == [DEMO, "ledger"]
    assert dialog.project_combo.currentData() == DEMO
    assert dialog.project_hint.text().startswith(
        "shop is registered on web-2, not here: the demo is picked instead.\n"
    )
    dialog.set_hosts(HOSTS, "", {})
    dialog.project_combo.setCurrentIndex(dialog.project_combo.findData("ledger"))
    assert "registered" not in dialog.project_hint.text()

    _pick(dialog, "web-2")  # ledger is this machine's: the demo, and why
    assert _listed(dialog) == [DEMO, "both", "shop"]
    assert dialog.project_combo.currentData() == DEMO
    assert dialog.project_hint.text().splitlines()[0] == (
        "ledger is registered on this machine, not on web-2: the demo is picked instead."
    )
    assert dialog.spec().project is None

    dialog.project_combo.setCurrentIndex(dialog.project_combo.findData("shop"))
    assert "registered" not in dialog.project_hint.text()
    # The agent's check of shop, there: its queue is proposed, its missing pool greyed.
    assert dialog.queues_edit.text() == "billing"
    assert "Not gevent: gevent is not installed" in dialog.project_hint.text()
    assert "secret" not in dialog.project_hint.text()
    dialog.name_edit.setText("shop-1")
    assert dialog.spec().project == "shop" and dialog.ok_button.isEnabled()

    _pick(dialog, "web-3")  # nothing registered there
    assert _listed(dialog) == [DEMO]
    assert dialog.project_hint.text().splitlines()[0] == (
        "shop is registered on web-2, not on web-3: the demo is picked instead."
    )

    _pick(dialog, "web-2")  # back: shop is not re-picked by itself, the demo stays
    dialog.project_combo.setCurrentIndex(dialog.project_combo.findData("both"))
    _pick(dialog, "web-2")
    _pick(dialog, "")  # this machine again: both is web-2's
    assert _listed(dialog) == [DEMO, "ledger"]
    assert dialog.project_hint.text().startswith("both is registered on web-2, not here")


def test_a_project_kept_across_hosts_has_no_note(qtbot: QtBot, projects: ProjectStore) -> None:
    """The demo exists everywhere: switching host keeps it, and says nothing about it."""
    dialog = StartDialog()
    qtbot.addWidget(dialog)
    dialog.set_hosts(HOSTS, "", {})
    _pick(dialog, "web-2")
    assert dialog.project_combo.currentData() == DEMO
    assert "registered on" not in dialog.project_hint.text()
    dialog.project_combo.setCurrentIndex(dialog.project_combo.findData("shop"))
    _pick(dialog, "web-3")
    dialog.project_combo.activated.emit(0)  # the user picks the demo: the note goes
    assert "registered on" not in dialog.project_hint.text()
