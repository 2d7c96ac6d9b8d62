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


def test_settings_errors_sit_beside_their_fields_in_the_users_words(
    home: Path, qtbot: QtBot
) -> None:
    from pooldesk.desktop import resources
    from pooldesk.desktop.settings_hub import SettingsHub
    from pooldesk.desktop.views.settings.page import SettingsPage

    page = SettingsPage(SettingsHub())
    qtbot.addWidget(page)
    page.setStyleSheet(resources.stylesheet())
    page.resize(1366, 700)
    page.show()
    section = page.broker_section
    section.external_radio.setChecked(True)
    section.url_edit.setText("http://broker.example:5672/")
    section.result_backend_edit.setText("mongodb://db.example/")
    page.timings_section.stop_spin.setValue(0)
    for key, field in (
        ("broker_url", section.url_edit),
        ("result_backend", section.result_backend_edit),
        ("stop_timeout", page.timings_section.stop_spin),
    ):
        owner, error = page.field_errors.fields[key]
        assert owner is field and field.property("invalid") is True
        assert error.isVisible() and key not in error.text()
        # Right under its field: the next thing below it, within two rows' height.
        below = error.mapTo(page, error.rect().topLeft()).y()
        bottom = field.mapTo(page, field.rect().bottomLeft()).y()
        assert 0 <= below - bottom <= 2 * field.height(), key
    texts = [page.problems_label.text()] + [e.text() for _, e in page.field_errors.fields.values()]
    assert not any(word in t for t in texts for word in ("broker_url", "result_backend", "_"))
    section.result_backend_edit.clear()
    _, error = page.field_errors.fields["result_backend"]
    assert error.isHidden() and not section.result_backend_edit.property("invalid")


def test_presets_project_column_is_not_cut(home: Path, qtbot: QtBot) -> None:
    from pooldesk.desktop.views.settings.presets import PresetsSection

    presets = PresetsSection()
    qtbot.addWidget(presets)
    presets.add({"name": "Orch", "pool": "solo", "concurrency": 1, "queues": ["o"]})
    presets.show()
    combo = presets.table.cellWidget(0, 4)
    assert presets.table.columnWidth(4) >= combo.sizeHint().width()


def test_launch_invoices_is_off_with_no_customers_and_says_why(qtbot: QtBot) -> None:
    from pooldesk.desktop.views.launch_dialogs import LaunchInvoicesDialog

    dialog = LaunchInvoicesDialog(None, customers_in_db=0)
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.ok_button.isEnabled()
    assert "no customers yet: seed demo data first" in dialog.problems_label.text()
    assert "seed demo data first" in dialog.ok_button.toolTip()
    dialog.set_customer_count(120)
    assert dialog.ok_button.isEnabled() and dialog.problems_label.isHidden()
    # Chunk size: the field's range is the message's range, in customers per task.
    assert (dialog.chunk_spin.minimum(), dialog.chunk_spin.maximum()) == (1, 100_000)
    assert "1 to 100,000 customers per task" in dialog.chunk_spin.toolTip()
    dialog.queue_edit.clear()
    assert "queue: give the name of the queue" in dialog.problems_label.text()
    assert "queue ''" not in dialog.problems_label.text()


@pytest.mark.parametrize("kind", ["invoices", "monitoring"])
def test_both_launch_dialogs_say_a_worker_on_orchestration_is_needed(
    qtbot: QtBot, kind: str
) -> None:
    from pooldesk.desktop.views.launch_dialogs import (
        LaunchInvoicesDialog,
        LaunchMonitoringDialog,
    )

    dialog = LaunchInvoicesDialog(None, 100) if kind == "invoices" else LaunchMonitoringDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.set_consumers({kind})  # a worker on the batch's own queue, none on orchestration
    text = dialog.warnings_label.text()
    assert "No running worker consumes orchestration: the batch would wait" in text
    button = dialog.start_workers_button
    assert button.isVisible() and button.text() == "Start a worker on orchestration"
    with qtbot.waitSignal(dialog.startWorkersRequested) as asked:
        button.click()
    assert asked.args == [["orchestration"]]
    dialog.set_consumers({kind, "orchestration"})
    assert not button.isVisible() and "orchestration" not in dialog.warnings_label.text()
    dialog.set_consumers(set())
    assert f"orchestration and {kind}" in dialog.warnings_label.text()


def test_monitoring_shows_the_queue_error_at_once(qtbot: QtBot) -> None:
    from pooldesk.desktop.views.launch_dialogs import LaunchMonitoringDialog

    dialog = LaunchMonitoringDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.urls_edit.setPlainText("ftp://x")  # a URL problem...
    dialog.queue_edit.setText("bad queue")  # ...does not hide the queue's
    text = dialog.problems_label.text()
    assert "line 1" in text and "queue 'bad queue'" in text


def test_add_project_says_an_import_failure_once_and_quotes_no_flag(
    home: Path, qtbot: QtBot, tmp_path: Path
) -> None:
    from pooldesk.backend.projects.check import CheckResult
    from pooldesk.desktop.views.project_dialog import ProjectDialog

    dialog = ProjectDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.env_edit.setPlainText("BADLINE")
    problems = dialog.problems_label.text()
    assert "extra env: line 'BADLINE': give KEY=value" in problems and "--env" not in problems
    dialog.env_edit.clear()
    dialog.name_edit.setText("shop")
    dialog.python_edit.setText(sys.executable)
    dialog.workdir_edit.setText(str(tmp_path))
    dialog.app_edit.setText("shop.celery:nope")
    error = "the module shop.celery imported, but it has no attribute 'nope'"
    dialog._checked(dialog.project(), CheckResult(ok=False, error=error), None)
    shown = [dialog.problems_label.text(), dialog.report_label.text()]
    assert sum(text.count("has no attribute 'nope'") for text in shown) == 1  # once, in red
    assert ProjectStore().names() == []


def test_the_launch_dialogs_offer_starts_the_missing_worker_from_a_preset(
    home: Path, qtbot: QtBot
) -> None:
    from pooldesk.desktop.views.workers_page import WorkersPage

    page = WorkersPage()
    qtbot.addWidget(page)
    with qtbot.waitSignal(page.startRequested) as started:
        page.start_for_queues(["orchestration"])
    assert "orchestration" in started.args[0].queues
