"""``pooldesk audit --seconds S --json`` on a real leaking task (celery#4843).

One app, two projects on the project's own Redis, each with a real prefork -c 1 worker started
by Pooldesk:

- ``leaky``: every run of ``leakq.tasks.leak`` appends 1 MiB to a module-level list and nothing
  recycles the process: its memory grows task after task → a ``memory_growth`` finding with the
  settings (unset), the growth, the task and queue it ran, and the fix;
- ``recycled``: the same app with ``worker_max_tasks_per_child`` set (its process is replaced
  every 10 runs): no finding.

The growth is a live measurement, watched for at least the Advisor threshold
``uss_growth_window_s`` (5 min by default; 15 s here, through the settings as a user would set
it); both workers are watched in the same run. 1 MiB per ~0.2-s run is ~200 MiB/min,
ten times the 20-MiB/min threshold, so a loaded machine that runs fewer tasks still crosses it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pooldesk.backend.cli import main
from tests import projects_sample as sample

CELERY_PY = """
import os
from celery import Celery

broker = os.environ["LEAKQ_BROKER"]
app = Celery("leakq", broker=broker, backend=broker, include=["leakq.tasks"])
app.conf.update(task_default_queue="leak", broker_connection_retry_on_startup=True)
if os.environ.get("LEAKQ_MAX_TASKS"):
    app.conf.worker_max_tasks_per_child = int(os.environ["LEAKQ_MAX_TASKS"])
"""
TASKS_PY = """
import time
from leakq.celery import app

KEPT = []  # the leak: a module-level cache nobody empties


@app.task
def leak(mib, seconds):
    KEPT.append(b"x" * (mib * 2**20))  # written, so resident (not lazily zeroed pages)
    time.sleep(seconds)
    return len(KEPT)
"""
WATCH_S = 15.0  # the Advisor's memory watch, shortened from 5 min
SEND = "from leakq.tasks import leak\nfor _ in range(150):\n    leak.delay(1, 0.2)\nprint('sent')"


@pytest.fixture(scope="module")
def leak_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("leakq-project")
    (workdir / "leakq").mkdir()
    (workdir / "leakq" / "__init__.py").write_text("")
    (workdir / "leakq" / "celery.py").write_text(CELERY_PY)
    (workdir / "leakq" / "tasks.py").write_text(TASKS_PY)
    return workdir


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def start(
    capsys: pytest.CaptureFixture[str], python: Path, workdir: Path, name: str, env: dict[str, str]
) -> None:
    pairs = [arg for k, v in env.items() for arg in ("--env", f"{k}={v}")]
    code, _, err = cli(
        capsys, "project", "add", name, "--python", str(python), "--workdir", str(workdir),
        "--app", "leakq.celery:app", *pairs,
    )  # fmt: skip
    assert code == 0, err
    code, _, err = cli(
        capsys, "worker", "start", f"{name}-w", "--project", name, "-P", "prefork", "-c", "1",
        "-Q", "leak", "--wait", "--json",
    )  # fmt: skip
    assert code == 0, err


def test_a_leaking_task_without_per_child_limits_then_recycled(
    home: Path,
    capsys: pytest.CaptureFixture[str],
    sample_python: Path,
    leak_dir: Path,
    sample_redis: sample.Redis,
) -> None:
    from pooldesk.backend.settings import Settings, save

    save(Settings(advisor={"uss_growth_window_s": WATCH_S}))
    leaky = {"LEAKQ_BROKER": sample_redis.url(14)}
    recycled = {"LEAKQ_BROKER": sample_redis.url(15), "LEAKQ_MAX_TASKS": "10"}
    try:
        start(capsys, sample_python, leak_dir, "leaky", leaky)
        start(capsys, sample_python, leak_dir, "recycled", recycled)
        for env in (leaky, recycled):
            sample.client(sample_python, leak_dir, env, SEND)
        code, out, err = cli(capsys, "audit", "--seconds", str(WATCH_S + 7), "--json")
        assert code == 0, err
        reports: dict[str, dict[str, Any]] = {r["project"]: r for r in json.loads(out)}
    finally:
        for name in ("leaky", "recycled"):
            cli(capsys, "worker", "stop", f"{name}-w", "--cold", "--json")

    report = reports["leaky"]
    assert report["error"] is None, report["error"]
    found = [f for f in report["findings"] if f["rule"] == "memory_growth"]
    assert len(found) == 1, report["findings"]
    [grows] = found
    assert grows["severity"] == "warning"
    assert grows["config"] == [
        {"setting": "worker_max_tasks_per_child", "value": None, "source": "default"},
        {"setting": "worker_max_memory_per_child", "value": None, "source": "default"},
    ]
    measured = grows["measured"]
    assert measured["worker"] == "leaky-w"
    assert measured["uss_growth_mib_per_min"] >= 20.0  # the default threshold, not lowered
    assert measured["watched_s"] == WATCH_S
    assert (measured["task"], measured["queue"]) == ("leakq.tasks.leak", "leak")
    assert measured["runs"] >= 10
    assert "leakq.tasks.leak" in grows["text"]
    assert "--max-tasks-per-child" in grows["fix"]["change"]
    assert grows["fix"]["docs"].endswith("workers.html#max-tasks-per-child-setting")
    assert sample_redis.password not in out

    fixed = reports["recycled"]
    assert fixed["error"] is None, fixed["error"]
    assert fixed["settings"]["worker_max_tasks_per_child"] == {"value": 10, "source": "app"}
    assert fixed["tasks_measured"] >= 10  # it ran the same leaking tasks meanwhile
    assert [f for f in fixed["findings"] if f["rule"] == "memory_growth"] == []
