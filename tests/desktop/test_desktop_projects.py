"""Projects in the window: Settings ▸ Projects (add through the dialog, bad input refused, the
check in plain words), the start dialog's project picker, and a user's worker in its own
virtualenv started, listed with its project, resized and stopped from the window."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import psutil
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QWidget
from pytestqt.qtbot import QtBot

from pooldesk.backend import settings as settings_mod
from pooldesk.backend.projects.check import CheckResult
from pooldesk.backend.projects.model import Project
from pooldesk.backend.projects.store import ProjectStore
from pooldesk.desktop import resources
from pooldesk.desktop.models.workers_model import CONCURRENCY, PROCESSED, PROJECT, STATE
from pooldesk.desktop.shell.root import PooldeskWindow as MainWindow
from pooldesk.desktop.views.projects_section import ProjectsSection
from pooldesk.desktop.views.start_dialog import StartDialog
from tests import projects_sample as sample

WAIT_MS = 60_000  # a shared 2-core machine: generous, never a sleep


def _texts(widget: QWidget) -> str:
    parts = [w.text() for w in widget.findChildren(QLabel)]
    parts += [w.text() for w in widget.findChildren(QLineEdit)]
    parts += [w.toolTip() for w in widget.findChildren(QWidget)]
    return "\n".join(parts)


def _fill(dialog, python: Path, workdir: Path, app: str, env_file: Path | None) -> None:  # type: ignore[no-untyped-def]
    dialog.name_edit.setText("ledger")
    dialog.python_edit.setText(str(python))
    dialog.workdir_edit.setText(str(workdir))
    dialog.app_edit.setText(app)
    dialog.env_file_edit.setText(str(env_file) if env_file else "")


def test_add_a_project_in_settings_and_bad_input_is_refused(
    home: Path,
    qtbot: QtBot,
    sample_python: Path,
    sample_dir: Path,
    sample_redis: sample.Redis,
    tmp_path: Path,
) -> None:
    section = ProjectsSection()
    qtbot.addWidget(section)
    section.show()
    assert "No project yet" in section.report_label.text()
    section.open_add()
    dialog = section.dialog
    assert dialog is not None and dialog.isVisible()
    assert not dialog.save_button.isEnabled()  # nothing typed: nothing to save, no red text
    assert dialog.problems_label.isHidden()

    _fill(dialog, tmp_path / "nope" / "python", sample_dir, sample.APP, sample_dir / ".env")
    assert "no such file" in dialog.problems_label.text() and not dialog.save_button.isEnabled()
    dialog.python_edit.setText(str(sample_python))
    dialog.workdir_edit.setText(str(tmp_path / "missing"))
    assert "no such directory" in dialog.problems_label.text()
    dialog.workdir_edit.setText(str(sample_dir))
    bad_env = tmp_path / "bad.env"
    bad_env.write_text(f"A=1\n\nB {sample.SECRET_VALUE}\n")
    dialog.env_file_edit.setText(str(bad_env))
    assert "line 3" in dialog.problems_label.text() and not dialog.save_button.isEnabled()
    assert sample.SECRET_VALUE not in _texts(dialog)
    dialog.env_file_edit.setText(str(sample_dir / ".env"))
    dialog.name_edit.setText("demo")
    assert "already exists" in dialog.problems_label.text()
    dialog.name_edit.setText("ledger")

    # An app that does not import: its last error line, and nothing saved.
    dialog.app_edit.setText("broken.celery:app")
    assert dialog.save_button.isEnabled()
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "does not import" in dialog.problems_label.text(), timeout=WAIT_MS)
    assert "No module named 'ledgerq_missing_dependency'" in dialog.problems_label.text()
    assert ProjectStore().names() == [] and dialog.isVisible()

    dialog.app_edit.setText(sample.APP)
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: section.table.rowCount() == 1, timeout=WAIT_MS)
    assert ProjectStore().names() == ["ledger"]
    assert section.selected_name() == "ledger"
    report = section.report_label.text()
    assert "3 tasks on queues" in report and sample.QUEUE in report
    assert f"redis://:****@127.0.0.1:{sample_redis.port}/5" in report
    shown = _texts(section)
    assert sample_redis.password not in shown and sample.SECRET_VALUE not in shown

    with qtbot.waitSignal(section.changed, timeout=WAIT_MS):
        qtbot.mouseClick(section.check_button, Qt.MouseButton.LeftButton)
    assert "the app imports" in section.status_label.text()


def test_start_dialog_offers_the_projects_queues_and_greys_pools_it_cannot_run(
    home: Path, qtbot: QtBot, sample_python: Path, sample_dir: Path
) -> None:
    store = ProjectStore()
    store.add(Project("ledger", str(sample_python), str(sample_dir), sample.APP))
    store.save_check(
        "ledger",
        CheckResult(
            ok=True,
            python="3.11.7",
            celery="5.7.0",
            broker_url="redis://:pw@127.0.0.1:1/5",
            default_queue="celery",
            tasks=[{"name": "ledgerq.tasks.post", "queue": sample.QUEUE}],
            pools={"prefork": None, "gevent": "gevent is not installed in this environment"},
        ),
    )
    dialog = StartDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.project_combo.currentData() == "demo"
    assert dialog.queues_edit.text() == "invoices"  # the demo: its CPU-bound queue on prefork
    dialog.project_combo.setCurrentIndex(dialog.project_combo.findData("ledger"))
    assert dialog.queues_edit.text() == sample.QUEUE  # the queue its tasks route to
    gevent = dialog.pool_combo.findText("gevent")
    item = dialog.pool_combo.model().item(gevent)  # type: ignore[attr-defined]
    assert not item.isEnabled()
    assert "not installed" in dialog.pool_combo.itemData(gevent, Qt.ItemDataRole.ToolTipRole)
    assert "Not gevent: gevent is not installed" in dialog.project_hint.text()
    assert "pw@" not in dialog.project_hint.text()
    dialog.name_edit.setText("l1")
    spec = dialog.spec()
    assert (spec.project, spec.app, spec.queues) == ("ledger", sample.APP, (sample.QUEUE,))
    assert dialog.ok_button.isEnabled()

    dialog.advanced.setChecked(True)
    dialog.advanced.extra_edit.setText("--broker redis://elsewhere")
    assert not dialog.ok_button.isEnabled() and "--broker" in dialog.problems_label.text()
    dialog.advanced.extra_edit.setText("--prefetch-multiplier 8")
    dialog.advanced.max_tasks_spin.setValue(100)
    assert dialog.ok_button.isEnabled()
    spec = dialog.spec()
    assert spec.extra_args == ("--prefetch-multiplier", "8") and spec.max_tasks_per_child == 100


@pytest.mark.slow
def test_a_projects_worker_is_started_listed_resized_and_stopped_from_the_window(
    home: Path,
    qtbot: QtBot,
    sample_python: Path,
    sample_dir: Path,
    sample_redis: sample.Redis,
) -> None:
    from pooldesk.backend.projects.check import run_check

    store = ProjectStore()
    project = Project(
        "ledger", str(sample_python), str(sample_dir), sample.APP, str(sample_dir / ".env")
    )
    store.add(project)
    store.save_check("ledger", run_check(project))
    # The user says what kind of work their queue carries; the advisor judges the pool by it.
    loaded = settings_mod.load().settings
    settings_mod.save(replace(loaded, advisor={"queue_nature": {sample.QUEUE: "cpu"}}))

    window = MainWindow()
    qtbot.addWidget(window)
    window.setStyleSheet(resources.stylesheet())
    window.show()
    page, model = window.workers_page, window.workers_page.model
    window.nav.setCurrentRow(window.pages.indexOf(page))
    assert not window.overview_page.first_run.isVisible()  # a project exists: not a first run

    page.open_start_dialog()
    dialog = page.start_dialog
    assert dialog is not None
    dialog.project_combo.setCurrentIndex(dialog.project_combo.findData("ledger"))
    dialog.name_edit.clear()  # a free name is proposed; this test names its own
    qtbot.keyClicks(dialog.name_edit, "ui-ledger")
    dialog.pool_combo.setCurrentText("gevent")
    dialog.concurrency_spin.setValue(4)
    assert dialog.ok_button.isEnabled(), dialog.problems_label.text()
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)

    def cell(column: int) -> str:
        row = model.row_of("ui-ledger")
        return str(model.index(row, column).data()) if row >= 0 else ""

    qtbot.waitUntil(lambda: cell(STATE) == "online", timeout=WAIT_MS)
    info = model.worker(model.row_of("ui-ledger"))
    assert info is not None and info.pid
    assert psutil.Process(info.pid).cmdline()[0] == str(sample_python)
    assert cell(PROJECT) == "ledger"
    tip = model.index(model.row_of("ui-ledger"), PROJECT).data(Qt.ItemDataRole.ToolTipRole)
    assert f"on broker redis://:****@127.0.0.1:{sample_redis.port}/5" in tip

    # The project's own client sends a task; the worker runs it.
    result = sample.client(
        sample_python,
        sample_dir,
        {"LEDGERQ_BROKER": sample_redis.url(5)},
        "from ledgerq.tasks import post; print(post.delay(20, 22).get(timeout=60))",
    )
    assert result == "42"

    # Watched on its own broker: the task it ran is counted, and the advisor flags the
    # CPU-bound queue on a gevent worker, with the fix (restart as prefork).
    qtbot.waitUntil(lambda: cell(PROCESSED) not in ("", "–", "0"), timeout=WAIT_MS)
    cards = window.overview_page.warnings.cards
    qtbot.waitUntil(
        lambda: any(i.startswith("cpu-under-gevent:ui-ledger@") for i in cards), timeout=WAIT_MS
    )
    page.resizeRequested.emit("ui-ledger", 6)  # what the resize dialog's OK sends
    qtbot.waitUntil(lambda: cell(CONCURRENCY) == "6", timeout=WAIT_MS)
    qtbot.waitUntil(
        lambda: window.statusBar().currentMessage() == "ui-ledger resized to 6 (live).",
        timeout=WAIT_MS,
    )
    assert page.select("ui-ledger")
    page.stop_action.trigger()
    qtbot.waitUntil(lambda: cell(STATE) == "stopped", timeout=WAIT_MS)
    assert not window.open_messages(), [m.informativeText() for m in window.open_messages()]
    assert sample.SECRET_VALUE not in _texts(window)
    assert sample_redis.password not in _texts(window)
    window.close()
    QApplication.processEvents()


def test_first_run_offers_the_two_ways_in(home: Path, qtbot: QtBot) -> None:
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    page = window.overview_page
    window.controller.workersChanged.emit([])  # no worker (what the first refresh says)
    qtbot.waitUntil(lambda: page.first_run.isVisible(), timeout=WAIT_MS)
    assert not page.warnings.isVisible()  # no "every queue runs on a pool that fits its work"
    qtbot.mouseClick(page.first_run.add_button, Qt.MouseButton.LeftButton)
    assert window.pages.currentWidget() is window.settings_page
    section = window.settings_page.projects_section
    assert section.dialog is not None and section.dialog.isVisible()
    section.dialog.reject()
    window.close()
    assert not window.telemetry.is_running() and not window.controller.is_running()
    QApplication.processEvents()


def test_a_preset_can_start_a_projects_workers(
    home: Path, qtbot: QtBot, sample_python: Path, sample_dir: Path
) -> None:
    from pooldesk.backend.workers import presets as presets_mod
    from pooldesk.desktop.settings_hub import SettingsHub
    from pooldesk.desktop.views.settings.page import SettingsPage

    ProjectStore().add(Project("ledger", str(sample_python), str(sample_dir), sample.APP))
    preset = {"name": "Ledger", "pool": "gevent", "concurrency": 20, "queues": [sample.QUEUE]}
    page = SettingsPage(SettingsHub())
    qtbot.addWidget(page)
    row = page.presets_section.add(preset)
    page.presets_section.table.cellWidget(row, 4).setCurrentText("ledger")
    saved = page.presets_section.presets()[row]
    assert saved["project"] == "ledger"
    assert "demo" not in [
        p.get("project") for p in page.presets_section.presets()
    ]  # the demo: no key at all
    spec = presets_mod.spec_for(saved, taken=["ledger-1"])
    assert (spec.name, spec.project, spec.app) == ("ledger-2", "ledger", sample.APP)
    assert presets_mod.label(saved).endswith("(project ledger)")


def test_edit_a_project_keeps_its_name_and_saves_the_change(
    home: Path, qtbot: QtBot, sample_python: Path, sample_dir: Path
) -> None:
    store = ProjectStore()
    store.add(Project("ledger", str(sample_python), str(sample_dir), sample.APP))
    section = ProjectsSection()
    qtbot.addWidget(section)
    section.show()
    section.table.selectRow(0)
    assert "Not checked yet" in section.report_label.text()
    section.open_edit()
    dialog = section.dialog
    assert dialog is not None and dialog.name_edit.isReadOnly()
    assert dialog.app_edit.text() == sample.APP and dialog.save_button.isEnabled()
    dialog.env_file_edit.setText(str(sample_dir / ".env"))
    dialog.managed_check.setChecked(True)
    with qtbot.waitSignal(section.changed, timeout=WAIT_MS):
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    saved = store.get("ledger")
    assert saved.managed_broker and saved.env_file == str(sample_dir / ".env")
    assert section.table.item(0, 3).text() == "Pooldesk's managed broker"
    assert "Its workers run on Pooldesk's managed broker" in section.report_label.text()


def test_removing_a_project_asks_first(
    home: Path, qtbot: QtBot, sample_python: Path, sample_dir: Path
) -> None:
    from PySide6.QtWidgets import QMessageBox

    store = ProjectStore()
    store.add(Project("ledger", str(sample_python), str(sample_dir), sample.APP))
    section = ProjectsSection()
    qtbot.addWidget(section)
    section.table.selectRow(0)
    section.remove_button.click()
    box = section.confirm_box
    assert box is not None and "Remove project ledger" in box.text()
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert store.names() == ["ledger"]
    section.remove_button.click()
    box = section.confirm_box
    assert box is not None
    with qtbot.waitSignal(section.changed):
        box.button(QMessageBox.StandardButton.Yes).click()
    assert store.names() == [] and section.table.rowCount() == 0
