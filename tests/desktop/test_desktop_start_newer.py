"""The start dialog's Celery 5.5+/5.6+ options: offered where the project's Celery and broker
have them, greyed with the reason where not, and carried into the worker spec."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from pooldesk.desktop.views.start_options import AdvancedOptions


def test_newer_options_greyed_with_the_reason_and_carried_when_offered(qtbot: QtBot) -> None:
    options = AdvancedOptions()
    qtbot.addWidget(options)
    options.setChecked(True)
    options.set_support("5.5.2", "amqp://guest@localhost//")
    assert options.soft_shutdown_spin.isEnabled() and options.soft_idle_check.isEnabled()
    assert not options.disable_prefetch_check.isEnabled()
    assert "Celery 5.6+" in options.disable_prefetch_check.toolTip()
    assert "Celery 5.6+ (this project has 5.5.2)" in options.eta_limit_spin.toolTip()
    options.soft_shutdown_spin.setValue(30)
    options.disable_prefetch_check.setChecked(True)  # greyed: not carried
    values = options.values()
    assert values["soft_shutdown_timeout"] == 30 and "disable_prefetch" not in values

    options.set_support("5.6.0", "redis://:secret@localhost/0")
    assert options.disable_prefetch_check.isEnabled()
    assert options.disable_prefetch_check.toolTip() == ""
    options.eta_limit_spin.setValue(100)
    values = options.values()
    assert values["disable_prefetch"] is True and values["eta_task_limit"] == 100

    options.set_support("5.6.0", "amqp://guest@localhost//")
    assert "Redis broker only" in options.disable_prefetch_check.toolTip()
