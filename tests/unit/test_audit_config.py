"""``_pooldesk_config``: an app's settings with where each came from, odd values included.

Run in this process on small apps written to a temporary folder (the module is stand-alone:
standard library and Celery), then through :class:`AppConfig` and every audit rule: strings
where numbers belong, a timedelta, secret-looking transport keys and a settings object with a
namespace must give a clear answer and never an exception.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pooldesk.backend.advisor.model import Thresholds
from pooldesk.backend.audit.engine import evaluate, public_settings
from pooldesk.backend.audit.model import AppConfig, Measurements, TaskStats
from pooldesk.backend.workers import inworker

sys.path.insert(0, str(inworker.path()))
import _pooldesk_config as config_module

APP_PY = """
import datetime
from celery import Celery

app = Celery("oddapp", broker="redis://:hunter2@127.0.0.1:1/0")
app.config_from_object("oddsettings", namespace="CELERY")
app.conf.update(
    broker_transport_options={"visibility_timeout": "abc", "sentinel_password": "hunter2"},
    result_expires=datetime.timedelta(hours=1),
)


@app.task(acks_late=True, time_limit=30)
def build():
    return 1
"""
SETTINGS_PY = """
CELERY_WORKER_PREFETCH_MULTIPLIER = "4"
CELERY_TASK_ACKS_LATE = False
"""


@pytest.fixture
def odd_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "oddapp.py").write_text(APP_PY)
    (tmp_path / "oddsettings.py").write_text(SETTINGS_PY)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "oddapp:app"
    for name in ("oddapp", "oddsettings"):
        sys.modules.pop(name, None)


def test_values_and_their_sources(odd_app: str) -> None:
    answer = config_module.describe(odd_app)
    assert "error" not in answer, answer
    settings = answer["settings"]
    assert settings["worker_prefetch_multiplier"] == {
        "value": "4",
        "source": "settings:oddsettings",
    }
    assert settings["task_acks_late"]["source"] == "settings:oddsettings"
    assert settings["result_expires"] == {"value": 3600.0, "source": "app"}  # a timedelta
    assert settings["task_time_limit"] == {"value": None, "source": "default"}
    options = settings["broker_transport_options"]["value"]
    assert options == {"visibility_timeout": "abc", "sentinel_password": "****"}
    assert "hunter2" not in repr(answer)  # the broker URL is not in the answer at all
    assert answer["transport"] and "redis" in answer["transport"]
    # In a user's interpreter only the app's own tasks exist. In this test process every
    # ``@app.task`` imported earlier (shared by Celery's default: Pooldesk's own, and the test
    # apps an integration test in the same xdist process imported, tests/fitapp.py…) joins each
    # app finalized afterwards, so only the odd app's own names are compared: counting the
    # others made this test fail whenever such a file ran first in its process.
    own = [t for t in answer["tasks"] if t["name"].startswith("oddapp.")]
    assert own == [{"name": "oddapp.build", "options": {"acks_late": True, "time_limit": 30}}]
    queues = {k: v for k, v in answer["task_queues"].items() if k.startswith("oddapp.")}
    assert queues == {"oddapp.build": "celery"}


def test_odd_values_become_findings_not_crashes(odd_app: str) -> None:
    cfg = AppConfig.from_answer("odd", config_module.describe(odd_app))
    assert cfg.transport == "redis"
    runs = [TaskStats("oddapp.build", "celery", 20, 1.0, 100.0, max_wait_s=9.0)]
    findings = evaluate(cfg, [], Measurements(runs), Thresholds())
    bad = {c["setting"] for f in findings if f.rule == "bad_value" for c in f.config}
    assert bad == {"worker_prefetch_multiplier", "broker_transport_options.visibility_timeout"}
    # The task's own acks_late counts although the settings module says False.
    assert any(f.rule == "acks_late_without_reject" for f in findings)
    assert all(f.rule != "no_time_limit" for f in findings)  # its own time_limit=30
    assert public_settings(cfg)["worker_prefetch_multiplier"]["value"] == "4"


def test_an_app_that_does_not_import_is_an_error_line(tmp_path: Path) -> None:
    answer = config_module.describe("no_such_module_here:app")
    assert "No module named" in answer["error"]
    assert evaluate(AppConfig.from_answer("x", answer), [], Measurements(), Thresholds()) == []


DJANGO_APP_PY = """
from celery import Celery

app = Celery("djapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
"""


def test_django_settings_are_named_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Django project's ``config_from_object('django.conf:settings', namespace='CELERY')``:
    the source names the settings module (a stand-in ``django.conf`` package here: Django is
    not a dependency of Pooldesk)."""
    (tmp_path / "django").mkdir()
    (tmp_path / "django" / "__init__.py").write_text("")
    (tmp_path / "django" / "conf.py").write_text(
        "class _Settings:\n    CELERY_TASK_TIME_LIMIT = 'ten minutes'\n\nsettings = _Settings()\n"
    )
    (tmp_path / "djapp.py").write_text(DJANGO_APP_PY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    try:
        # Imported before the variable is set: with it, Celery's Django fixup would want a
        # real Django. The audit reads the variable when it names the source.
        __import__("djapp")
        monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "shop.settings")
        answer = config_module.describe("djapp:app")
    finally:
        for name in ("djapp", "django", "django.conf"):
            sys.modules.pop(name, None)
    assert answer["settings"]["task_time_limit"] == {
        "value": "ten minutes",
        "source": "django:shop.settings",
    }
    findings = evaluate(AppConfig.from_answer("shop", answer), [], Measurements(), Thresholds())
    assert [f.rule for f in findings] == ["bad_value"]
