"""``pooldesk audit`` on a real project: its own virtualenv and Redis, real prefork workers
started by Pooldesk, task history recorded from the project's broker.

- visibility timeout: an acks_late task longer than a 2-s ``visibility_timeout`` is delivered
  again while it runs; task history sees its id start twice and the audit says so (critical);
- prefetch: two long tasks and four short ones under prefork -c 2 with multiplier 4: the short
  ones wait inside the worker behind the long ones (measured wait: critical);
- the same workload with the settings fixed (timeout 60 s, multiplier 1): no finding.

The app reads its settings from the project's env (one package, three projects), so what the
audit reports is what the app's own interpreter resolved — sources included.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from pooldesk.backend.cli import main
from tests import projects_sample as sample
from tests.liveworkers import cli_worker

CELERY_PY = """
import os
from celery import Celery

broker = os.environ["AUDITQ_BROKER"]
app = Celery("auditq", broker=broker, backend=broker, include=["auditq.tasks"])
app.conf.update(
    broker_transport_options={
        "visibility_timeout": float(os.environ["AUDITQ_VT"]),
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 0,
    },
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_time_limit=30,
    worker_prefetch_multiplier=int(os.environ["AUDITQ_PREFETCH"]),
    task_default_queue="audit",
    broker_connection_retry_on_startup=True,
)
"""
TASKS_PY = """
import time
from auditq.celery import app


@app.task
def nap(seconds):
    time.sleep(seconds)
    return seconds
"""
THRESHOLDS = {"audit_long_task_s": 3.0, "audit_prefetch_wait_s": 2.0}
LONG_AND_SHORT = (
    "from auditq.tasks import nap\n"
    "results = [nap.delay(4) for _ in range(2)] + [nap.delay(0.05) for _ in range(4)]\n"
    "print([r.get(timeout=90) for r in results])"
)


@pytest.fixture(scope="module")
def audit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("auditq-project")
    (workdir / "auditq").mkdir()
    (workdir / "auditq" / "__init__.py").write_text("")
    (workdir / "auditq" / "celery.py").write_text(CELERY_PY)
    (workdir / "auditq" / "tasks.py").write_text(TASKS_PY)
    return workdir


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def setup_project(
    capsys: pytest.CaptureFixture[str],
    python: Path,
    workdir: Path,
    redis: sample.Redis,
    name: str,
    db: int,
    vt: float,
    prefetch: int,
) -> dict[str, str]:
    from pooldesk.backend.settings import Settings, save

    save(Settings(advisor=dict(THRESHOLDS)))
    env = {"AUDITQ_BROKER": redis.url(db), "AUDITQ_VT": str(vt), "AUDITQ_PREFETCH": str(prefetch)}
    pairs = [arg for k, v in env.items() for arg in ("--env", f"{k}={v}")]
    code, _, err = cli(
        capsys, "project", "add", name, "--python", str(python), "--workdir", str(workdir),
        "--app", "auditq.celery:app", *pairs,
    )  # fmt: skip
    assert code == 0, err
    return env


def project_worker(
    capsys: pytest.CaptureFixture[str], name: str
) -> AbstractContextManager[dict[str, Any]]:
    """The project's prefork × 2 worker on the ``audit`` queue, online; stopped cold after."""
    return cli_worker(capsys, f"{name}-w", "--project", name, "-P", "prefork", "-c", "2",
                      "-Q", "audit")  # fmt: skip


def audit(capsys: pytest.CaptureFixture[str], project: str) -> dict[str, Any]:
    code, out, err = cli(capsys, "audit", "--project", project, "--json")
    assert code == 0, err
    [report] = json.loads(out)
    assert report["error"] is None, report["error"]
    return dict(report)


def until(
    capsys: pytest.CaptureFixture[str],
    project: str,
    done: Callable[[dict[str, Any]], bool],
    timeout: float = 90.0,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    report = audit(capsys, project)
    while not done(report) and time.monotonic() < deadline:
        time.sleep(1.0)
        report = audit(capsys, project)
    return report


def finding(report: dict[str, Any], rule: str) -> dict[str, Any] | None:
    return next((f for f in report["findings"] if f["rule"] == rule), None)


def test_visibility_timeout_shorter_than_a_run_is_seen_twice(
    home: Path,
    capsys: pytest.CaptureFixture[str],
    sample_python: Path,
    audit_dir: Path,
    sample_redis: sample.Redis,
) -> None:
    env = setup_project(capsys, sample_python, audit_dir, sample_redis, "vt", 11, 2.0, 1)
    with project_worker(capsys, "vt"):
        send = "from auditq.tasks import nap\nprint(nap.delay(5).id)"
        sample.client(sample_python, audit_dir, env, send)

        def twice(report: dict[str, Any]) -> bool:
            found = finding(report, "visibility_timeout")
            return bool(found and found["measured"].get("started_twice", 0) >= 1)

        report = until(capsys, "vt", twice)
        found = finding(report, "visibility_timeout")
        assert found is not None, report["findings"]
        assert found["severity"] == "critical"
        assert found["measured"]["task"] == "auditq.tasks.nap"
        assert found["measured"]["max_runtime_s"] >= 2.0
        assert "start twice" in found["text"]
        assert found["config"][0] == {
            "setting": "broker_transport_options.visibility_timeout",
            "value": 2.0,
            "source": "app",
        }
        assert "visibility-timeout" in found["fix"]["docs"]
        assert sample_redis.password not in json.dumps(report)
        # The same finding in ``advise`` (rule family audit_*) and in text form.
        code, out, err = cli(capsys, "audit", "--project", "vt")
        assert code == 0 and "[critical] visibility_timeout 2 s" in out, err
        code, out, err = cli(capsys, "advise", "--seconds", "1", "--json")
        assert code == 0, err
        advised = [a for a in json.loads(out) if a["rule"] == "audit_visibility_timeout"]
        assert advised and advised[0]["id"] == found["id"], out


def test_prefetch_makes_short_tasks_wait_behind_long_ones(
    home: Path,
    capsys: pytest.CaptureFixture[str],
    sample_python: Path,
    audit_dir: Path,
    sample_redis: sample.Redis,
) -> None:
    env = setup_project(capsys, sample_python, audit_dir, sample_redis, "pf", 12, 3600, 4)
    with project_worker(capsys, "pf"):
        sample.client(sample_python, audit_dir, env, LONG_AND_SHORT)

        def waited(report: dict[str, Any]) -> bool:
            found = finding(report, "prefetch_long_tasks")
            return bool(found and found["severity"] == "critical")

        report = until(capsys, "pf", waited)
        found = finding(report, "prefetch_long_tasks")
        assert found is not None and found["severity"] == "critical", report["findings"]
        assert found["measured"]["max_wait_s"] >= 2.0
        assert found["config"][0]["value"] == 4 and found["config"][0]["source"] == "app"
        assert "--prefetch-multiplier 1" in found["fix"]["change"]
        assert finding(report, "visibility_timeout") is None


def test_the_same_workload_with_the_settings_fixed_has_no_finding(
    home: Path,
    capsys: pytest.CaptureFixture[str],
    sample_python: Path,
    audit_dir: Path,
    sample_redis: sample.Redis,
) -> None:
    env = setup_project(capsys, sample_python, audit_dir, sample_redis, "ok", 13, 60, 1)
    with project_worker(capsys, "ok"):
        sample.client(sample_python, audit_dir, env, LONG_AND_SHORT)
        report = until(capsys, "ok", lambda r: r["tasks_measured"] >= 6)
        assert report["tasks_measured"] >= 6
        assert report["findings"] == []
        assert report["settings"]["worker_prefetch_multiplier"] == {"value": 1, "source": "app"}


def test_gevent_time_limit_not_enforced_then_fixed(
    home: Path,
    capsys: pytest.CaptureFixture[str],
    sample_python: Path,
    sample_dir: Path,
    sample_redis: sample.Redis,
) -> None:
    """The sample project's CPU-bound ``spin`` on gevent with ``--time-limit 1``: the run takes
    its full 2.5 s (gevent cannot stop a task that never yields; Celery reports the limit only
    when the loop is free again) — critical, measured. The same worker without the limit: no
    gevent finding."""
    code, _, err = cli(
        capsys, "project", "add", "ledger", "--python", str(sample_python), "--workdir",
        str(sample_dir), "--app", sample.APP, "--env-file", str(sample_dir / ".env"),
    )  # fmt: skip
    assert code == 0, err
    options = ("--project", "ledger", "-P", "gevent", "-c", "5", "-Q", sample.QUEUE)
    env = {"LEDGERQ_BROKER": sample_redis.url(5)}
    with cli_worker(capsys, "led-g", *options, "--time-limit", "1"):
        sample.client(
            sample_python, sample_dir, env,
            # Celery reports TimeLimitExceeded once the loop is free again: after the full run.
            "from ledgerq.tasks import spin\n"
            "print(spin.delay(2.5).get(timeout=60, propagate=False))",
        )  # fmt: skip

        def ran_past(report: dict[str, Any]) -> bool:
            found = finding(report, "gevent_time_limit")
            return bool(found and found["severity"] == "critical")

        report = until(capsys, "ledger", ran_past)
        found = finding(report, "gevent_time_limit")
        assert found is not None and found["severity"] == "critical", report["findings"]
        assert found["measured"]["task"] == "ledgerq.tasks.spin"
        assert found["measured"]["max_runtime_s"] >= 2.0
        assert found["config"][0] == {"setting": "--time-limit", "value": 1.0,
                                      "source": "worker option"}  # fmt: skip
        assert sample.SECRET_VALUE not in json.dumps(report)
    with cli_worker(capsys, "led-g2", *options):  # the same worker, no time limit
        report = audit(capsys, "ledger")
        assert report["workers"] and "led-g" not in report["workers"]  # only what runs now
        assert finding(report, "gevent_time_limit") is None, report["findings"]
