"""Launch batch… (Ctrl+B) on the Batches page, fed by a fake batch service at the seam: the
projects and their tasks, the items preview and count, the plan and forecast as one types, bad
input marked on its field with Launch disabled, and the request that Launch sends.

The fake answers like the real service (``project_request.plan_answer``) but without a broker:
the items are read by the real parser, the plan and forecast are fixed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QLabel, QMessageBox
from pytestqt.qtbot import QtBot

from pooldesk.backend.advisor.model import Fix
from pooldesk.backend.batches.items import ItemError
from pooldesk.backend.batches.project_request import ProjectRequest
from pooldesk.backend.fit.table import QueueFit
from pooldesk.desktop.formatting import DASH
from pooldesk.desktop.views.batches_page import BatchesPage
from pooldesk.desktop.views.project_batch_dialog import ProjectBatchDialog

PROJECTS = [
    {"name": "shop", "tasks": [{"name": "shop.tasks.bill", "queue": "billing"},
                               {"name": "shop.tasks.mail", "queue": "mail"}]},
]  # fmt: skip
FORECAST = [
    {"pool": "gevent", "concurrency": 20, "seconds": 3600, "current": True,
     "basis": "0.6 s per item, CPU 95 %"},
    {"pool": "prefork", "concurrency": 4, "seconds": 900, "current": False,
     "basis": "0.6 s per item, 2 cores"},
]  # fmt: skip


def _row(queue: str, fix: Fix | None) -> QueueFit:
    return QueueFit(
        queue, "cpu", 40, 0.97, 0.95, 0.6, 0.6, "gevent", "measured", None, ["w1: gevent × 20"],
        "trap" if fix else "fits", "critical" if fix else None, "prefork × 4", fix=fix,
    )  # fmt: skip


class FakeBatchService(QObject):
    projectsListed = Signal(list)
    projectPlanned = Signal(dict)

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[ProjectRequest] = []
        self.launched: list[ProjectRequest] = []

    @Slot()
    def listProjects(self) -> None:
        self.projectsListed.emit(PROJECTS)

    @Slot(object)
    def planProject(self, request: ProjectRequest) -> None:
        self.requests.append(request)
        answer: dict[str, Any] = {"token": request.token, "ok": False}
        try:
            items = request.items()
        except ItemError as exc:
            self.projectPlanned.emit({**answer, "field": "items", "error": str(exc)})
            return
        answer.update(preview=items.preview(5), count=len(items))
        chunks = -(-len(items) // request.chunk_size) if request.chunk_size else len(items)
        plan = {
            "task": request.task, "queue": request.queue or "billing", "items": len(items),
            "children": chunks, "consumers": [{"name": "w1@h", "pool": "gevent",
                                                "concurrency": 20}],
            "forecast": FORECAST, "forecast_reason": None,
        }  # fmt: skip
        self.projectPlanned.emit({**answer, "ok": True, "plan": plan, "warning": None})

    @Slot(object)
    def launchProject(self, request: ProjectRequest) -> None:
        self.launched.append(request)


def test_launch_batch_dialog_previews_items_plans_and_forecasts(
    qtbot: QtBot, tmp_path: Path
) -> None:
    page = BatchesPage()
    qtbot.addWidget(page)
    service = FakeBatchService()
    page.projectsWanted.connect(service.listProjects)  # as the shell wires them
    page.projectPlanRequested.connect(service.planProject)
    page.launchProjectRequested.connect(service.launchProject)
    service.projectsListed.connect(page.set_projects)
    service.projectPlanned.connect(page.set_project_plan)
    page.show()

    assert page.launch_project_action.shortcut().toString() == "Ctrl+B"
    assert page.launch_project_action in page.actions_for_toolbar()
    page.launch_project_action.trigger()  # the window's menu and toolbar hold the action
    qtbot.waitUntil(lambda: isinstance(page.dialog, ProjectBatchDialog))
    dialog = page.dialog
    assert isinstance(dialog, ProjectBatchDialog)
    assert dialog.project_box.currentText() == "shop"
    assert [dialog.task_box.itemText(i) for i in range(dialog.task_box.count())] == [
        "shop.tasks.bill", "shop.tasks.mail"
    ]  # fmt: skip
    assert "billing (from its routes)" in dialog.queue_edit.placeholderText()

    bad = tmp_path / "customers.jsonl"
    bad.write_text('{"customer": 1}\n{"customer": \n')
    dialog.file_edit.setText(str(bad))
    qtbot.waitUntil(lambda: "line 2" in dialog.error_label.text())
    assert not dialog.launch_button.isEnabled()
    assert "line 2" in dialog.file_edit.toolTip()  # marked on the field itself

    good = tmp_path / "customers.csv"
    good.write_text("customer\n" + "".join(f"{i}\n" for i in range(1, 6001)))
    dialog.file_edit.setText(str(good))
    dialog.chunk_check.setChecked(True)
    dialog.chunk_spin.setValue(500)
    qtbot.waitUntil(lambda: dialog.launch_button.isEnabled())
    assert '"1"' in dialog.preview_label.text() and "6,000 items" in dialog.preview_label.text()
    plan = dialog.plan_label.text()
    assert "6,000 items → 12 calls of shop.tasks.bill" in plan
    assert "≈ 60 min here (gevent × 20)" in plan and "≈ 15 min on prefork × 4" in plan
    assert dialog.error_label.text() == ""
    assert not dialog.fix_button.isVisible()  # the Pool fit table has no fix for billing yet

    # The Pool fit table's fix for the batch's queue is offered before the launch, with the
    # same question as its own Fix…; Yes sends the fix, and nothing is launched by it.
    fix = Fix(
        "restart_worker",
        {"name": "w1", "pool": "prefork", "concurrency": 4},
        "Restart worker w1 as prefork × 4: billing's tasks hold the gevent loop.",
    )
    page.set_fit([_row("billing", fix), _row("mail", None)])
    assert dialog.fix_button.isVisible() and dialog.fix_button.toolTip() == fix.confirm
    fixes: list[Fix] = []
    page.fixRequested.connect(fixes.append)
    dialog.fix_button.click()
    box = dialog.confirm_box
    assert box is not None and box.text() == fix.confirm
    box.button(QMessageBox.StandardButton.Ok).click()  # "Restart"
    qtbot.waitUntil(lambda: fixes == [fix])
    assert service.launched == []

    dialog.range_radio.setChecked(True)
    dialog.range_edit.setText("9:1")
    qtbot.waitUntil(lambda: "greater than B" in dialog.error_label.text())
    assert not dialog.launch_button.isEnabled()
    dialog.range_edit.setText("1:6000")
    qtbot.waitUntil(lambda: dialog.launch_button.isEnabled())
    dialog.launch_button.click()
    qtbot.waitUntil(lambda: bool(service.launched))
    sent = service.launched[0]
    assert (sent.project, sent.task, sent.range_text, sent.chunk_size, sent.items_file) == (
        "shop", "shop.tasks.bill", "1:6000", 500, ""
    )  # fmt: skip


def test_a_project_batch_shows_its_task_items_results_and_lost_children(qtbot: QtBot) -> None:
    from pooldesk.backend.batches.history import BatchRecord
    from pooldesk.desktop.models.children_model import DETAIL, RESULT, STATE, child_row

    page = BatchesPage()
    qtbot.addWidget(page)
    params = {"project": "shop", "task": "shop.tasks.bill", "items": 6000, "chunk_size": 500,
              "source": "range 1:6000", "queue": "billing", "children": 12}  # fmt: skip
    record = BatchRecord("proj-0001", "project", params, "running", created_at=time.time(),
                         counts={"total": 6000, "succeeded": 500, "failed": 500})  # fmt: skip
    page.set_batches([record])
    assert page.select("proj-0001")
    assert "shop: shop.tasks.bill" in [
        str(page.model.index(0, c).data()) for c in range(page.model.columnCount())
    ]
    children = [
        {"index": 0, "id": "proj-0001.0", "state": "SUCCESS", "items": [1, 500],
         "range": [1, 500], "result": {"billed": 500}},
        {"index": 1, "id": "proj-0001.1", "state": "LOST", "items": [501, 1000],
         "range": [501, 1000], "reason": "worker w1@h died while it ran; the app acks early"},
    ]  # fmt: skip
    page.set_children("proj-0001", [child_row("project", c) for c in children])
    kids = page.detail.children_model
    cells = [[str(kids.index(r, c).data()) for c in (STATE, DETAIL, RESULT)] for r in range(2)]
    assert cells[0] == ["failed", "values 501–1000", DASH]  # a lost child needs a look first
    assert cells[1] == ["succeeded", "values 1–500", '{"billed": 500}']
    assert any("shop.tasks.bill" in label.text() for label in page.detail.findChildren(QLabel))
