"""A user's own task as a batch, end to end through the CLI: the sample project in its own
virtualenv, real workers (started in the project's interpreter, as a user would) on its own
Redis, a database (SQLite) result backend, and RabbitMQ where one listens.

Workers are shared by the module (one per queue); each test has its own Pooldesk home and its
own queue where it needs one, so tests stay independent.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pooldesk.backend.cli import main
from pooldesk.backend.projects.check import CheckResult, run_check
from pooldesk.backend.projects.model import Project
from pooldesk.backend.projects.store import ProjectStore
from tests import projects_sample as sample

APP = "ledgerq.bcelery:app"
QUEUE = "ledger-posting"
CELERY_PY = """
import os
from celery import Celery

broker = os.environ["LEDGERQ_BROKER"]
app = Celery("ledgerq", broker=broker, backend=os.environ.get("LEDGERQ_BACKEND") or broker,
             include=["ledgerq.btasks"])
app.conf.update(task_serializer="json", accept_content=["json"], result_serializer="json",
                task_routes={"ledgerq.btasks.*": {"queue": os.environ.get("LEDGERQ_QUEUE",
                                                                         "ledger-posting")}},
                task_track_started=True, broker_connection_retry_on_startup=True,
                broker_transport_options={"visibility_timeout": 8, "unacked_restore_interval": 2,
                                          "unacked_restore_throttle": 1})
"""
TASKS_PY = """
import os
import time

from ledgerq.bcelery import app


@app.task
def add(x, y=0):
    return int(x) + int(y)


@app.task
def echo(*args, **kwargs):
    return {"args": list(args), "kwargs": kwargs}


@app.task
def total(chunk):
    return sum(int(v) for v in chunk)


@app.task
def flaky(x):
    if os.path.exists(f"fail-{x}"):
        raise ValueError(f"item {x} refused")
    return int(x) * 10


@app.task
def slow(x, seconds=0.5):
    time.sleep(float(seconds))
    return int(x)


@app.task(acks_late=True)
def slow_late(x, seconds=0.5):
    time.sleep(float(seconds))
    return int(x)
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def wait_for(check: Callable[[], Any], timeout: float = 60.0, every: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not within {timeout:.0f} s")


class Workers:
    """The project's workers, started in its own interpreter and stopped at the end."""

    def __init__(self, python: Path, workdir: Path, env: dict[str, str]) -> None:
        self.python, self.workdir, self.env = python, workdir, env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, queue: str, pool: str = "threads", concurrency: int = 4) -> str:
        host = f"{name}@{socket.gethostname()}"
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 (kept with the process)
        self.procs[name] = subprocess.Popen(
            [str(self.python), "-m", "celery", "-A", APP, "worker", "-P", pool,
             "-c", str(concurrency), "-Q", queue, "-n", host, "--without-mingle",
             "--without-gossip", "-l", "info"],
            cwd=self.workdir, env={"PATH": os.environ.get("PATH", ""), **self.env},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        wait_for(lambda: b"ready." in (self.workdir / f"{name}.log").read_bytes(), 90)
        return host

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.kill(name)


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("ledger-batches")
    sample.write_project(workdir)
    (workdir / "ledgerq" / "bcelery.py").write_text(CELERY_PY)
    (workdir / "ledgerq" / "btasks.py").write_text(TASKS_PY)
    return workdir


@pytest.fixture(scope="module")
def redis_env(sample_redis: sample.Redis) -> dict[str, str]:
    return {"LEDGERQ_BROKER": sample_redis.url(7)}


@pytest.fixture(scope="module")
def workers(sample_python: Path, project_dir: Path, redis_env: dict[str, str]) -> Iterator[Workers]:
    pool = Workers(sample_python, project_dir, redis_env)
    try:
        pool.start("main", QUEUE)
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture(scope="module")
def checked(sample_python: Path, project_dir: Path, redis_env: dict[str, str]) -> CheckResult:
    """The project's check, run once; each test's home gets a copy."""
    result = run_check(project("ledger", sample_python, project_dir, redis_env))
    assert result.ok, result.error
    return result


def project(name: str, python: Path, workdir: Path, env: dict[str, str]) -> Project:
    return Project(name=name, python=str(python), workdir=str(workdir), app=APP, env=env)


@pytest.fixture
def ledger(
    home: Path, sample_python: Path, project_dir: Path, redis_env: dict[str, str],
    checked: CheckResult, workers: Workers,
) -> str:  # fmt: skip
    store = ProjectStore()
    store.add(project("ledger", sample_python, project_dir, redis_env))
    store.save_check("ledger", checked)
    return "ledger"


def launch(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, err = run(capsys, "batch", "run", "--project", "ledger", *argv, "--json")
    assert code == 0, err
    return dict(json.loads(out))


def finished(capsys: pytest.CaptureFixture[str], batch_id: str, timeout: float = 90) -> Any:
    def done() -> dict[str, Any] | None:
        code, out, err = run(capsys, "batch", "status", batch_id, "--json", "--children")
        assert code == 0, err
        status = json.loads(out)
        return status if status["state"] not in ("queued", "running") else None

    return wait_for(done, timeout)


def test_items_of_every_format_per_item_and_chunked(
    ledger: str, project_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    txt = tmp_path / "ids.txt"
    txt.write_text("# two numbers\n3\n4\n")
    record = launch(capsys, "--task", "ledgerq.btasks.add", "--items", str(txt))
    assert record["kind"] == "project" and record["params"]["queue"] == QUEUE  # from its routes
    status = finished(capsys, record["id"])
    assert status["state"] == "completed"
    assert [(c["id"], c["result"], c["items"]) for c in status["children"]] == [
        (f"{record['id']}.0", 3, [1, 1]), (f"{record['id']}.1", 4, [2, 2])
    ]  # fmt: skip

    code, out, _ = run(capsys, "batch", "status", record["id"][:10], "--children")
    assert code == 0 and "kind      project" in out and "task=ledgerq.btasks.add" in out
    assert "child    1 SUCCESS     items [2, 2]" in out

    csv = tmp_path / "pairs.csv"
    csv.write_text("x,y\n1,2\n5,6\n")
    status = finished(capsys, launch(capsys, "--task", "ledgerq.btasks.add", "--items",
                                     str(csv))["id"])  # fmt: skip
    assert [c["result"] for c in status["children"]] == [3, 11]
    status = finished(capsys, launch(capsys, "--task", "ledgerq.btasks.echo", "--items",
                                     str(csv), "--kwargs")["id"])  # fmt: skip
    assert status["children"][0]["result"] == {"args": [], "kwargs": {"x": "1", "y": "2"}}

    jsonl = tmp_path / "calls.jsonl"
    jsonl.write_text('[1, 2]\n{"a": true}\n"solo"\n')
    status = finished(capsys, launch(capsys, "--task", "ledgerq.btasks.echo", "--items",
                                     str(jsonl))["id"])  # fmt: skip
    assert [c["result"] for c in status["children"]] == [
        {"args": [1, 2], "kwargs": {}}, {"args": [], "kwargs": {"a": True}},
        {"args": ["solo"], "kwargs": {}},
    ]  # fmt: skip

    record = launch(capsys, "--task", "ledgerq.btasks.total", "--range", "1:100",
                    "--chunk-size", "30")  # fmt: skip
    status = finished(capsys, record["id"])
    assert status["counts"]["succeeded"] == 100 and len(status["children"]) == 4
    assert sum(c["result"] for c in status["children"]) == 5050
    assert status["children"][3]["range"] == [91, 100]
    code, out, _ = run(capsys, "batch", "list")
    assert code == 0 and "project ledger/ledgerq.btasks.total" in out


def test_failing_child_then_retry_sends_only_the_failed(
    ledger: str, project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = project_dir / "fail-2"
    marker.write_text("")
    try:
        record = launch(capsys, "--task", "ledgerq.btasks.flaky", "--range", "1:4")
        status = finished(capsys, record["id"])
    finally:
        marker.unlink()
    assert status["state"] == "completed_with_failures"
    failed = [c for c in status["children"] if c["state"] == "FAILURE"]
    assert [c["index"] for c in failed] == [1] and "item 2 refused" in failed[0]["reason"]
    code, _, err = run(capsys, "batch", "retry", record["id"][:12], "--json")
    assert code == 0, err
    status = finished(capsys, record["id"])
    assert status["state"] == "completed"
    ids = {c["index"]: c["id"] for c in status["children"]}
    assert ids[1] == f"{record['id']}.1.t1" and ids[0] == f"{record['id']}.0"  # only 1 resent
    assert [c["result"] for c in status["children"]] == [10, 20, 30, 40]


def test_cancel_mid_batch(ledger: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    items = tmp_path / "slow.jsonl"
    items.write_text("".join(f'{{"x": {i}, "seconds": 0.5}}\n' for i in range(40)))
    record = launch(capsys, "--task", "ledgerq.btasks.slow", "--items", str(items))
    wait_for(lambda: run(capsys, "batch", "status", record["id"], "--json")[1].count(
        '"succeeded": 0') == 0, 60)  # fmt: skip
    code, out, err = run(capsys, "batch", "cancel", record["id"], "--json")
    assert code == 0, err
    assert json.loads(out)["pending"] > 0
    status = finished(capsys, record["id"])
    assert status["state"] == "cancelled"
    assert status["counts"]["cancelled"] > 0 and status["counts"]["succeeded"] > 0


def test_dry_run_shape_and_a_queue_nothing_consumes(
    ledger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "batch", "run", "--project", "ledger", "--task",
                         "ledgerq.btasks.add", "--range", "1:10", "--chunk-size", "4",
                         "--dry-run", "--json")  # fmt: skip
    assert code == 0, err
    plan = json.loads(out)
    assert set(plan) == {"task", "queue", "items", "children", "consumers", "forecast",
                         "forecast_reason"}  # fmt: skip
    assert (plan["items"], plan["children"], plan["queue"]) == (10, 3, QUEUE)
    assert [set(c) for c in plan["consumers"]] == [{"name", "pool", "concurrency"}]
    assert plan["consumers"][0]["pool"] == "threads"
    assert isinstance(plan["forecast"], list)
    code, out, err = run(capsys, "batch", "run", "--project", "ledger", "--task",
                         "ledgerq.btasks.add", "--range", "1:3", "--queue", "nobody-here",
                         "--dry-run", "--json")  # fmt: skip
    assert code == 0 and "start a worker for it" in err
    assert json.loads(out)["consumers"] == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--project", "nope", "--task", "t", "--range", "1:2"], "no project named 'nope'"),
        (["--project", "ledger", "--task", "ledgerq.btasks.ad", "--range", "1:2"],
         "did you mean ledgerq.btasks.add"),
        (["--project", "ledger", "--task", "ledgerq.btasks.add", "--range", "5:1"],
         "greater than B"),
        (["--project", "ledger", "--task", "ledgerq.btasks.add", "--range", "1:5",
          "--chunk-size", "0"], "must be 1 or more"),
        (["--project", "ledger", "--task", "ledgerq.btasks.add", "--items", "BAD"], "line 2"),
        (["--project", "ledger", "--task", "ledgerq.btasks.add", "--items", "EMPTY"],
         "no items"),
        (["--project", "ledger", "--task", "ledgerq.btasks.add", "--range", "1:2", "--queue",
          "ledger-postin"], "did you mean ledger-posting"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_exit_2_nothing_sent(
    ledger: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str],
    message: str,
) -> None:  # fmt: skip
    (tmp_path / "bad.jsonl").write_text("[1]\n{oops\n")
    (tmp_path / "empty.txt").write_text("# nothing\n")
    files = {"BAD": str(tmp_path / "bad.jsonl"), "EMPTY": str(tmp_path / "empty.txt")}
    code, _, err = run(capsys, "batch", "run", *[files.get(a, a) for a in argv])
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert run(capsys, "batch", "list", "--json")[1].strip() == "[]"  # nothing sent


def test_broker_not_answering_is_exit_2(
    home: Path, sample_python: Path, project_dir: Path, checked: CheckResult,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    dead = f"redis://127.0.0.1:{sample.free_port()}/0"
    store = ProjectStore()
    store.add(project("gone", sample_python, project_dir, {"LEDGERQ_BROKER": dead}))
    store.save_check("gone", CheckResult.from_dict(
        {**checked.to_dict(), "broker_url": dead, "result_backend": dead}))  # fmt: skip
    code, _, err = run(capsys, "batch", "run", "--project", "gone", "--task",
                       "ledgerq.btasks.add", "--range", "1:2")  # fmt: skip
    assert code == 2 and "broker unreachable" in err
    assert run(capsys, "batch", "list", "--json")[1].strip() == "[]"


@pytest.mark.parametrize(("task", "shown"), [("slow", "LOST"), ("slow_late", "REDELIVERED")])
def test_worker_killed_mid_batch_lost_or_redelivered(
    ledger: str, workers: Workers, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    task: str, shown: str,
) -> None:  # fmt: skip
    queue = f"kill-{task}"
    workers.start(f"victim-{task}", queue, concurrency=1)
    items = tmp_path / "one.jsonl"
    items.write_text('{"x": 1, "seconds": 6}\n')
    record = launch(capsys, "--task", f"ledgerq.btasks.{task}", "--items", str(items),
                    "--queue", queue)  # fmt: skip

    def child() -> dict[str, Any]:
        _, out, _ = run(capsys, "batch", "status", record["id"], "--json", "--children")
        return dict(json.loads(out)["children"][0])

    wait_for(lambda: child()["state"] in ("STARTED", "SUCCESS"), 60, every=0.1)
    if child()["state"] == "SUCCESS":
        pytest.skip("the child finished before the worker could be killed")
    workers.kill(f"victim-{task}")
    seen = wait_for(lambda: (c := child())["state"] == shown and c, 60)
    assert ("acks early" if shown == "LOST" else "acks late") in seen["reason"]
    if shown == "LOST":
        status = finished(capsys, record["id"])
        assert status["state"] == "completed_with_failures"
        return
    workers.start(f"rescue-{task}", queue, concurrency=1)
    status = finished(capsys, record["id"], timeout=90)  # redelivered after the visibility timeout
    assert status["state"] == "completed" and status["children"][0]["result"] == 1


def _own_project(
    name: str, python: Path, workdir: Path, env: dict[str, str], queue: str
) -> Workers:
    """A second project on the same code with another broker/backend, and its worker."""
    env = {**env, "LEDGERQ_QUEUE": queue}
    spec = project(name, python, workdir, env)
    check = run_check(spec)
    assert check.ok, check.error
    store = ProjectStore()
    store.add(spec)
    store.save_check(name, check)
    workers = Workers(python, workdir, env)
    workers.start(f"{name}-w", queue)
    return workers


def _run_sums(capsys: pytest.CaptureFixture[str], name: str) -> dict[str, Any]:
    """Through ``--wait``: the command returns once the batch has ended (exit 0: completed)."""
    code, out, err = run(capsys, "batch", "run", "--project", name, "--task",
                         "ledgerq.btasks.total", "--range", "1:20", "--chunk-size", "5",
                         "--wait", "--json")  # fmt: skip
    assert code == 0, err
    record = json.loads(out)
    assert record["state"] == "completed" and record["counts"]["succeeded"] == 20
    return dict(finished(capsys, record["id"]))


def test_database_result_backend_relative_to_the_project(
    home: Path, sample_python: Path, project_dir: Path, redis_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    env = {**redis_env, "LEDGERQ_BACKEND": "db+sqlite:///results.sqlite"}  # relative: workdir
    workers = _own_project("ledger-db", sample_python, project_dir, env, "ledger-db")
    try:
        status = _run_sums(capsys, "ledger-db")
    finally:
        workers.stop_all()
    assert status["state"] == "completed"
    assert [c["result"] for c in status["children"]] == [15, 40, 65, 90]
    assert (project_dir / "results.sqlite").exists()  # the worker's file, read by Pooldesk


def _rabbitmq_listens() -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", 5672)) == 0


@pytest.mark.skipif(
    not _rabbitmq_listens(),
    reason="no RabbitMQ on 127.0.0.1:5672 (a service, not a program .ci/run installs)",
)
def test_rabbitmq_broker(
    home: Path, sample_python: Path, project_dir: Path, sample_redis: sample.Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    env = {"LEDGERQ_BROKER": "amqp://guest:guest@127.0.0.1:5672//",
           "LEDGERQ_BACKEND": sample_redis.url(8)}  # fmt: skip
    queue = f"ledger-amqp-{os.getpid()}"
    workers = _own_project("ledger-mq", sample_python, project_dir, env, queue)
    try:
        status = _run_sums(capsys, "ledger-mq")
    finally:
        workers.stop_all()
    assert status["state"] == "completed" and status["params"]["queue"] == queue
    assert sum(c["result"] for c in status["children"]) == 210


def test_sending_that_stops_part_way_is_recorded_and_retry_sends_the_rest(
    ledger: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from celery import Celery

    from pooldesk.backend.batches import outage
    from pooldesk.backend.batches.items import parse_range
    from pooldesk.backend.batches.project_batch import ProjectBatches
    from pooldesk.backend.batches.project_plan import make_plan
    from pooldesk.backend.batches.service import BatchService

    real_send = Celery.send_task
    sent: list[str] = []

    seen_meanwhile: list[str] = []

    def flaky_send(self: Celery, *args: Any, **kwargs: Any) -> Any:
        if len(sent) == 3:  # the broker goes away after three children
            raise ConnectionError("Connection refused")
        if len(sent) == 1:  # another refresh (a window, a status) while the batch is sent
            other = ProjectBatches()
            found = other.history.get(kwargs["task_id"].split(".")[0])
            assert found is not None
            seen_meanwhile.append(other.refresh(found).state)
            other.close()
        sent.append(kwargs["task_id"])
        return real_send(self, *args, **kwargs)

    plan = make_plan("ledger", "ledgerq.btasks.add", parse_range("1:5"))
    service = BatchService()
    monkeypatch.setattr(Celery, "send_task", flaky_send)
    monkeypatch.setattr(outage, "OUTAGE_S", 1.0)  # gone for good, not restarting
    try:
        record = service.projects.launch(plan)
    finally:
        monkeypatch.setattr(Celery, "send_task", real_send)
        service.close()
    assert seen_meanwhile == ["queued"]  # not closed as "never sent" while being sent
    assert "sending stopped after 3 of 5 children" in (record.error or "")
    status = finished(capsys, record.id)
    assert status["state"] == "error" and status["counts"]["unsent"] == 2
    assert [c["state"] for c in status["children"]] == ["SUCCESS"] * 3 + ["UNSENT"] * 2
    code, _, err = run(capsys, "batch", "retry", record.id, "--json")
    assert code == 0, err
    status = finished(capsys, record.id)
    assert status["state"] == "completed"
    assert [c["result"] for c in status["children"]] == [1, 2, 3, 4, 5]
    assert [c["id"] for c in status["children"]][3:] == [f"{record.id}.3", f"{record.id}.4"]


def test_a_broker_restarting_while_the_children_are_sent_is_waited_for(
    ledger: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Measured on a real Redis stopped for 3 s mid-send (the same producer): kombu raises
    ``OperationalError: Error 111 … Connection refused`` for each try while it is away, then
    sends. Raised here at the publish, for the fourth child's first three tries: the launch
    waits, sends every child once under its own id, and nobody sees an error."""
    from celery import Celery
    from kombu.exceptions import OperationalError

    from pooldesk.backend.batches.items import parse_range
    from pooldesk.backend.batches.project_plan import make_plan
    from pooldesk.backend.batches.service import BatchService

    real_send = Celery.send_task
    sent: list[str] = []
    refused: list[str] = []

    def restarting(self: Celery, *args: Any, **kwargs: Any) -> Any:
        if len(sent) == 3 and len(refused) < 3:
            refused.append(kwargs["task_id"])
            raise OperationalError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")
        sent.append(kwargs["task_id"])
        return real_send(self, *args, **kwargs)

    plan = make_plan("ledger", "ledgerq.btasks.add", parse_range("1:5"))
    service = BatchService()
    monkeypatch.setattr(Celery, "send_task", restarting)
    try:
        record = service.projects.launch(plan)
    finally:
        monkeypatch.setattr(Celery, "send_task", real_send)
        service.close()
    assert record.error is None and "unsent" not in record.counts, record.error
    ids = [f"{record.id}.{i}" for i in range(5)]
    assert refused == [ids[3]] * 3 and sent == ids  # each child sent once, under its own id
    status = finished(capsys, record.id)
    assert status["state"] == "completed", status
    assert [c["result"] for c in status["children"]] == [1, 2, 3, 4, 5]
    assert [c["id"] for c in status["children"]] == ids


@pytest.mark.parametrize("backend", ["rpc://", None])
def test_no_readable_result_backend_is_refused_with_what_to_set(
    home: Path, sample_python: Path, project_dir: Path, checked: CheckResult,
    capsys: pytest.CaptureFixture[str], backend: str | None,
) -> None:  # fmt: skip
    store = ProjectStore()
    store.add(project("norb", sample_python, project_dir, {"LEDGERQ_BROKER": "redis://x/0"}))
    store.save_check(
        "norb", CheckResult.from_dict({**checked.to_dict(), "result_backend": backend})
    )
    code, _, err = run(capsys, "batch", "run", "--project", "norb", "--task",
                       "ledgerq.btasks.add", "--range", "1:2")  # fmt: skip
    assert code == 2 and "set result_backend to redis://" in err
    assert run(capsys, "batch", "list", "--json")[1].strip() == "[]"


def test_cancel_while_the_children_are_being_sent_stops_the_sending(
    ledger: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from celery import Celery

    from pooldesk.backend.batches.items import parse_range
    from pooldesk.backend.batches.project_batch import MARK_EVERY
    from pooldesk.backend.batches.project_plan import make_plan
    from pooldesk.backend.batches.service import BatchService

    real_send = Celery.send_task
    sent: list[str] = []

    def send_then_cancel(self: Celery, *args: Any, **kwargs: Any) -> Any:
        if len(sent) == MARK_EVERY + 10:  # someone presses Cancel (another process) meanwhile
            other = BatchService()
            other.cancel(kwargs["task_id"].split(".")[0])
            other.close()
        sent.append(kwargs["task_id"])
        return real_send(self, *args, **kwargs)

    plan = make_plan("ledger", "ledgerq.btasks.add", parse_range(f"1:{5 * MARK_EVERY}"))
    service = BatchService()
    monkeypatch.setattr(Celery, "send_task", send_then_cancel)
    try:
        record = service.projects.launch(plan)
    finally:
        monkeypatch.setattr(Celery, "send_task", real_send)
        service.close()
    assert len(sent) == 2 * MARK_EVERY  # stopped at the next slice, not all 1,000
    status = finished(capsys, record.id)
    assert status["state"] == "cancelled"
    assert status["counts"]["unsent"] == 3 * MARK_EVERY
    assert status["counts"]["succeeded"] + status["counts"]["cancelled"] == 2 * MARK_EVERY
