"""A user's own Celery project, end to end through the CLI: a real virtualenv outside
Pooldesk's, a real Redis of its own, real prefork and gevent workers, its own client.

Also every bad input of a project (each: one line, exit 2, nothing saved or started), and that
no env-file value ever reaches output or a log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from pooldesk.backend.cli import main
from tests import projects_sample as sample


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    for text in (out, err):
        assert sample.SECRET_VALUE not in text
    return code, out, err


def add(capsys: pytest.CaptureFixture[str], python: Path, workdir: Path, *extra: str) -> None:
    code, _, err = run(
        capsys, "project", "add", "ledger", "--python", str(python), "--workdir", str(workdir),
        "--app", sample.APP, "--env-file", str(workdir / ".env"), *extra,
    )  # fmt: skip
    assert code == 0, err


def test_check_reports_tasks_queues_and_masked_broker(
    home: Path,
    capsys: pytest.CaptureFixture[str],
    sample_python: Path,
    sample_dir: Path,
    sample_redis: sample.Redis,
) -> None:
    add(capsys, sample_python, sample_dir)
    code, out, _ = run(capsys, "project", "check", "ledger", "--json")
    assert code == 0
    report = json.loads(out)
    assert {"name": "ledgerq.tasks.post", "queue": sample.QUEUE, "acks_late": False} in report[
        "tasks"
    ]
    assert sample.QUEUE in report["queues"]
    assert report["broker_url"] == f"redis://:****@127.0.0.1:{sample_redis.port}/5"
    assert report["pools"]["gevent"] is None and report["celery"]
    code, out, _ = run(capsys, "project", "show", "ledger", "--json")
    assert json.loads(out)["env"] == []  # pairs only; the env file's keys stay in the file
    assert sample_redis.password not in out
    # The real URL is kept in a 0600 file only.
    cache = home / "projects" / "ledger.check.json"
    assert cache.stat().st_mode & 0o077 == 0
    code, out, _ = run(capsys, "project", "list")
    assert "ledger" in out and "demo" in out and sample_redis.password not in out


def test_project_worker_runs_in_its_environment_on_its_broker(
    broker: object,  # Pooldesk's managed broker runs too: the worker must not use it
    home: Path,
    capsys: pytest.CaptureFixture[str],
    sample_python: Path,
    sample_dir: Path,
    sample_redis: sample.Redis,
) -> None:
    from pooldesk.backend.advisor.service import AdvisorService
    from pooldesk.backend.projects.brokers import brokers_in_use
    from pooldesk.backend.telemetry.events import EventMonitor
    from pooldesk.backend.telemetry.multi import MonitorSet
    from pooldesk.backend.workers.manager import WorkerManager

    add(capsys, sample_python, sample_dir)
    code, out, err = run(
        capsys, "worker", "start", "led-p", "--project", "ledger", "-P", "prefork", "-c", "1",
        "--wait", "--json", "--max-tasks-per-child", "50",
    )  # fmt: skip
    assert code == 0, err
    started = json.loads(out)
    assert started["project"] == "ledger" and started["state"] == "online"
    # No -Q: every queue the app's tasks route to (its default queue first), not "default".
    assert started["queues"] == ["celery", sample.QUEUE]
    assert started["broker"] == f"redis://:****@127.0.0.1:{sample_redis.port}/5"
    assert psutil.Process(started["pid"]).cmdline()[0] == str(sample_python)

    env = {"LEDGERQ_BROKER": sample_redis.url(5)}
    answer = json.loads(
        sample.client(
            sample_python, sample_dir, env,
            "import json; from ledgerq.tasks import whoami, post\n"
            "assert post.delay(2, 3).get(timeout=60) == 5\n"
            "print(json.dumps(whoami.delay().get(timeout=60)))",
        )
    )  # fmt: skip
    assert answer["executable"] == str(sample_python)
    assert Path(answer["cwd"]) == sample_dir
    assert answer["secret_seen"] is True  # the env file reached the worker
    assert answer["pooldesk_importable"] is False  # no Pooldesk package in a user's worker

    # Task history: the project's tasks are recorded from *its* broker, and a retry goes
    # back there, where its workers listen (the project's own client reads the result).
    recorded: list[dict[str, object]] = []
    deadline = time.monotonic() + 90
    while not recorded and time.monotonic() < deadline:
        sample.client(sample_python, sample_dir, env, "from ledgerq.tasks import post\n"
                      "post.delay(2, 3).get(timeout=60)")  # fmt: skip
        time.sleep(1.0)
        code, out, err = run(capsys, "tasks", "list", "--name", "ledgerq.tasks.post", "--json")
        assert code == 0, err
        recorded = [t for t in json.loads(out) if t["state"] == "SUCCESS"]
    assert recorded, "the project's tasks were never recorded"
    code, out, err = run(capsys, "tasks", "retry", str(recorded[0]["id"]), "--json")
    assert code == 0, err
    again = json.loads(out)["id"]
    assert sample.client(
        sample_python, sample_dir, env,
        f"from ledgerq.celery import app\nprint(app.AsyncResult({again!r}).get(timeout=60))",
    ) == "5"  # fmt: skip

    manager = WorkerManager()
    monitors = MonitorSet(EventMonitor(manager.config))
    try:
        hostname = started["hostname"]
        assert manager.control.ping([hostname], timeout=1.0) == {}  # not on Pooldesk's broker
        code, _, err = run(capsys, "worker", "resize", "led-p", "2", "--json")
        assert code == 0, err
        listed = {w["name"]: w for w in _list(capsys)}
        assert listed["led-p"]["project"] == "ledger" and listed["led-p"]["concurrency"] == 2
        main_process = psutil.Process(started["pid"])  # the same process: grown live
        assert _wait(lambda: len(main_process.children()) == 2), main_process.children()

        code, out, err = run(
            capsys, "worker", "start", "led-g", "--project", "ledger", "-P", "gevent", "-c", "5",
            "-Q", sample.QUEUE, "--wait", "--json", "--", "--prefetch-multiplier", "2",
        )  # fmt: skip
        assert code == 0, err
        gevent = json.loads(out)
        assert psutil.Process(gevent["pid"]).cmdline()[0] == str(sample_python)
        assert "--prefetch-multiplier" in psutil.Process(gevent["pid"]).cmdline()

        # The advisor sees the project's gevent worker: its probe's loop-lag reports arrive
        # on the project's broker, where the panel listens too.
        monitors.start()
        monitors.sync(brokers_in_use(manager.store))
        assert monitors.brokers == 2
        service = AdvisorService()
        deadline = time.monotonic() + 60
        seen = None
        while time.monotonic() < deadline and seen is None:
            workers = manager.all(include_remote=True, remote_timeout=0.8)
            obs = service.observe(workers, None, monitors.snapshot(), None, [])
            seen = next(
                (w for w in obs.workers if w.name == "led-g" and w.loop_lag_ms_max is not None),
                None,
            )
            time.sleep(0.5)
        assert seen is not None and seen.pool == "gevent" and seen.state == "online"

        for name in ("led-p", "led-g"):
            code, out, err = run(capsys, "worker", "stop", name, "--json")
            assert code == 0, err
            assert json.loads(out)["state"] == "stopped"
    finally:
        monitors.stop()
        manager.close()
    texts = [log.read_text(errors="replace") for log in (home / "logs").rglob("*.log")]
    for text in texts:
        assert sample.SECRET_VALUE not in text and sample_redis.password not in text
    assert any("secret is ****" in text for text in texts)  # the app printed it: masked


def _wait(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def _list(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    code, out, _ = run(capsys, "worker", "list", "--json")
    assert code == 0
    return list(json.loads(out))


@pytest.mark.parametrize(
    "case",
    ["no-python", "not-python", "no-workdir", "no-import", "env-syntax", "clash", "bad-app"],
)
def test_bad_project_input_is_refused_and_nothing_saved(
    home: Path,
    capsys: pytest.CaptureFixture[str],
    sample_python: Path,
    sample_dir: Path,
    tmp_path: Path,
    case: str,
) -> None:
    python, workdir, app = str(sample_python), str(sample_dir), sample.APP
    env_file = str(sample_dir / ".env")
    expected = {
        "no-python": "no such file",
        "not-python": "not a Python interpreter",
        "no-workdir": "no such directory",
        "no-import": "ModuleNotFoundError: No module named 'ledgerq_missing_dependency'",
        "env-syntax": "line 3",
        "clash": "already exists",
        "bad-app": "give an import path",
    }[case]
    if case == "no-python":
        python = str(tmp_path / "nope" / "python")
    elif case == "not-python":
        python = "/bin/true"
    elif case == "no-workdir":
        workdir = str(tmp_path / "missing")
    elif case == "no-import":
        app = "broken.celery:app"
    elif case == "env-syntax":
        bad = tmp_path / "bad.env"
        bad.write_text(f"OK=1\n# fine\nSECRET {sample.SECRET_VALUE}\n")
        env_file = str(bad)
    elif case == "bad-app":
        app = "ledgerq celery"
    name = "demo" if case == "clash" else "ledger"
    code, _, err = run(
        capsys, "project", "add", name, "--python", python, "--workdir", workdir, "--app", app,
        "--env-file", env_file,
    )  # fmt: skip
    assert code == 2
    assert expected in err and len(err.strip().splitlines()) == 1
    assert not list((home / "projects").glob("*.json")) if (home / "projects").exists() else True


def test_worker_of_unreachable_broker_or_broken_app_is_not_started(
    home: Path,
    capsys: pytest.CaptureFixture[str],
    sample_python: Path,
    sample_dir: Path,
    tmp_path: Path,
) -> None:
    env = tmp_path / "down.env"
    env.write_text(f"LEDGERQ_BROKER=redis://:pw@127.0.0.1:{sample.free_port()}/0\n")
    code, _, err = run(
        capsys, "project", "add", "ledger", "--python", str(sample_python), "--workdir",
        str(sample_dir), "--app", sample.APP, "--env-file", str(env),
    )  # fmt: skip
    assert code == 0, err
    assert "warning: broker unreachable" in err and "pw@" not in err  # saved, with a warning
    code, _, err = run(capsys, "worker", "start", "w", "--project", "ledger", "-Q", sample.QUEUE)
    assert code == 2 and "broker unreachable" in err and "pw@" not in err
    code, _, err = run(capsys, "worker", "start", "w", "--project", "nope", "-Q", "q")
    assert code == 2 and "no project named 'nope'" in err
    code, _, err = run(
        capsys, "worker", "start", "w", "--project", "ledger", "--", "--broker", "redis://x"
    )
    assert code == 2 and "--broker" in err
    assert not (home / "workers").exists() or not list((home / "workers").glob("*.json"))


def test_a_project_uses_the_managed_broker_only_when_chosen(
    broker: object,
    home: Path,
    capsys: pytest.CaptureFixture[str],
    sample_python: Path,
    sample_dir: Path,
) -> None:
    from pooldesk.backend.workers.manager import WorkerManager

    add(capsys, sample_python, sample_dir, "--use-managed-broker")
    code, out, err = run(
        capsys, "worker", "start", "led-m", "--project", "ledger", "-P", "solo", "-c", "1",
        "-Q", sample.QUEUE, "--wait", "--json",
    )  # fmt: skip
    assert code == 0, err
    started = json.loads(out)
    manager = WorkerManager()
    try:
        assert started["broker"] == manager.config.masked_url
        assert manager.control.ping([started["hostname"]], timeout=2.0)  # on Pooldesk's broker
        assert psutil.Process(started["pid"]).cmdline()[0] == str(sample_python)
    finally:
        manager.close()
    # A restart keeps the project and changes only the options given.
    code, out, err = run(capsys, "worker", "restart", "led-m", "-l", "DEBUG", "--json")
    assert code == 0, err
    again = json.loads(out)
    assert again["project"] == "ledger" and again["state"] == "online"
    cmdline = psutil.Process(again["pid"]).cmdline()
    assert cmdline[0] == str(sample_python) and "DEBUG" in cmdline and sample.QUEUE in cmdline
    code, _, err = run(capsys, "worker", "stop", "led-m")
    assert code == 0, err
