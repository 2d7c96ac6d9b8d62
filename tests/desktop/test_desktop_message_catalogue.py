"""The message catalogue's desktop part: the confirmations and refusals the window itself words
(retry, retry a group, revoke, terminate, a fix, remove project, stop a remote worker), rendered
with realistic values and read with the same checks as the backend's catalogue
(tests/unit/test_message_catalogue.py): no internal names, CLI flags, None/null, raw reprs,
"(s)" plurals or unbalanced quotes."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from pytestqt.qtbot import QtBot

from pooldesk.backend.advisor import fixbuild
from pooldesk.backend.projects.model import Project
from pooldesk.backend.projects.store import ProjectStore
from pooldesk.backend.taskhistory.query import FailureGroup
from pooldesk.backend.workers.manager import WorkerInfo
from pooldesk.desktop.views.fix_confirm import ask_fix
from pooldesk.desktop.views.projects_section import ProjectsSection
from pooldesk.desktop.views.tasks_page import TasksPage
from pooldesk.desktop.views.workers_page import WorkersPage
from tests.unit.test_message_catalogue import faults

TASK = {
    "id": "0c5f8a7e-7d1b-4a57-9a4e-3f2b1c0d9e8f",
    "name": "shop.tasks.invoice",
    "state": "FAILURE",
    "queue": "billing",
    "worker": "billing-1@shop-1",
    "args": "(17, None)",
    "kwargs": "{}",
    "args_hidden": False,
    "exception": "TypeError(\"can't multiply sequence by non-int of type 'str'\")",
    "failure_group": "TypeError: can't multiply sequence by non-int of type 'str'",
    "sent_at": 1_790_000_000.0,
    "started_at": 1_790_000_001.0,
    "ended_at": 1_790_000_001.4,
}


@pytest.fixture
def tasks(home: Path, qtbot: QtBot) -> Iterator[TasksPage]:
    page = TasksPage()
    qtbot.addWidget(page)
    yield page
    page.shutdown()


def asked(page: TasksPage) -> list[tuple[str, str]]:
    said: list[tuple[str, str]] = []
    page.confirm = lambda title, text: said.append((title, text)) is not None  # answers no
    return said


def test_task_confirmations_read_right(tasks: TasksPage) -> None:
    said = asked(tasks)
    tasks.detail.show_task(dict(TASK))
    tasks.confirm_retry()
    tasks.confirm_revoke(False)
    tasks.confirm_revoke(True)
    now = time.time()
    tasks.groups.set_groups(
        [FailureGroup(TASK["failure_group"], "TypeError", 1, now - 60, now, ["shop.tasks.invoice"])]
    )
    tasks.groups.table.selectRow(0)
    tasks.confirm_retry_group()
    assert len(said) == 4
    retry = said[0][1]
    assert retry == "Send shop.tasks.invoice(17, None) to queue billing again as a new task?"
    assert "the failed task of" in said[3][1]
    for title, text in said:
        # The call's own None is an argument the task really got, not a missing value.
        assert faults(title) == [] and faults(text.replace("(17, None)", "(17, 0)")) == [], text


def test_a_retry_refused_in_the_window_is_said_before_asking(tasks: TasksPage) -> None:
    said = asked(tasks)
    tasks.detail.show_task({**TASK, "args": None})  # the arguments were never seen
    tasks.confirm_retry()
    assert said == []
    assert tasks.last_message.startswith("Nothing sent: cannot retry as recorded")
    assert faults(tasks.last_message) == [], tasks.last_message


def test_fix_remove_project_and_remote_stop_questions_read_right(
    home: Path, qtbot: QtBot, tmp_path: Path
) -> None:
    page = WorkersPage()
    qtbot.addWidget(page)
    texts = []
    for fix in (
        fixbuild.resize("billing-1", "prefork", 4, 2),
        fixbuild.restart("billing-1", "prefork", 4, "gevent", 50),
    ):
        box = ask_fix(page, fix)
        texts += [box.windowTitle(), box.text()] + [b.text() for b in box.buttons()]
        box.deleteLater()
    ProjectStore().add(Project("shop", sys.executable, str(tmp_path), "shop.celery:app"))
    section = ProjectsSection()
    qtbot.addWidget(section)
    section.table.selectRow(0)
    section.remove_button.click()
    assert section.confirm_box is not None
    texts += [section.confirm_box.text(), section.confirm_box.informativeText()]
    section.confirm_box.reject()
    remote = WorkerInfo(
        "edge",
        "edge@other-host",
        None,
        "prefork",
        4,
        ["billing"],
        state="online-remote",
        remote=True,
    )
    page.remote_stop.ask(remote.hostname)
    assert page.confirm_box is not None
    texts += [page.confirm_box.windowTitle(), page.confirm_box.text()]
    texts += [page.confirm_box.informativeText()]
    page.confirm_box.reject()
    for text in texts:
        assert faults(text.replace("&", "")) == [], text
