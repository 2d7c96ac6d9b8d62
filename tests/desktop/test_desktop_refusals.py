"""Refusals come before the question: Remove project on a project with workers says so at once
(it asked "Remove project shop?" and only after Yes refused in small grey text)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from pooldesk.backend.projects.model import Project
from pooldesk.backend.projects.store import ProjectStore
from pooldesk.backend.workers.records import RecordStore, WorkerRecord
from pooldesk.backend.workers.spec import WorkerSpec
from pooldesk.desktop.views.projects_section import ProjectsSection


def test_remove_project_with_workers_is_refused_before_asking(
    home: Path, qtbot: QtBot, tmp_path: Path
) -> None:
    store = ProjectStore()
    store.add(Project("shop", sys.executable, str(tmp_path), "shop.celery:app"))
    spec = WorkerSpec(
        name="billing-1", pool="prefork", concurrency=2, queues=("billing",),
        app="shop.celery:app", project="shop",
    )  # fmt: skip
    RecordStore().save(WorkerRecord(spec, "billing-1@here"))
    section = ProjectsSection()
    qtbot.addWidget(section)
    section.show()
    section.table.selectRow(0)
    section.remove_button.click()
    assert section.confirm_box is None  # no "Remove project shop?" to answer Yes to
    refusal = section.refusal_box
    assert refusal is not None and refusal.isVisible()
    assert "cannot be removed while it has a worker: billing-1" in refusal.text()
    assert [b.text() for b in refusal.buttons()] == ["OK"]
    assert "Stop them and forget them" in refusal.informativeText()
    refusal.button(QMessageBox.StandardButton.Ok).click()
    assert store.names() == ["shop"]
