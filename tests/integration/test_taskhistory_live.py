"""Task history end to end: a real broker, a real prefork worker running ``tests.taskapp``, the
recorder process its start brings up, a real client sending tasks, and the real CLI reading and
retrying. One worker and one recorder serve the whole module (they are slow to start)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from celery import Celery

from pooldesk.backend.fsutil import read_json
from pooldesk.backend.taskhistory import service
from pooldesk.backend.taskhistory.query import Filter, TaskQuery
from tests.taskhistory_live import Live, final, wait_for

# Kills its recorder and supervisor and waits for the keeper's new pair: under a parallel run the
# pair was still restarting a minute later. Alone, after the parallel run (Makefile, test-noqt).
pytestmark = pytest.mark.serial

REPO = Path(__file__).resolve().parents[2]


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend", "tasks", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=dict(os.environ),
    )


def test_outcomes_are_recorded_with_arguments_errors_and_timings(live: Live) -> None:
    ok = live.send("taskapp.add", 2, 3, queue="other")
    failed = live.send("taskapp.echo", 1, "a", fail=True)
    flaky = live.send("taskapp.flaky", 1)
    secret = live.send("taskapp.echo", "x", api_token="hunter2", db_password="s3cret")
    lookups = [live.send("taskapp.lookup", n) for n in (17, 912)]

    row = final(live, ok, "SUCCESS")
    assert row["name"] == "taskapp.add" and row["queue"] == "other"
    assert row["worker"].startswith("th@") and row["args"] == "(2, 3)" and row["result"] == "5"
    assert row.runtime is not None and row.wait is not None and row["sent_ts"]

    row = final(live, failed, "FAILURE")
    assert row["exc_type"] == "ValueError" and "asked to fail" in row["exception"]
    assert "Traceback" in row["traceback"] and "raise ValueError" in row["traceback"]
    assert row["kwargs"] == "{'fail': True}"

    row = final(live, flaky, "SUCCESS")
    assert row["retries"] == 1 and "not yet" in (row["exception"] or "")

    row = final(live, secret, "SUCCESS")
    text = json.dumps(row.data)
    assert "hunter2" not in text and "s3cret" not in text
    assert "'api_token': '****'" in row["kwargs"]

    groups = [final(live, t, "FAILURE")["exc_group"] for t in lookups]
    assert groups[0] == groups[1] == "KeyError: customer <n> not found"


def test_a_running_task_is_terminated_and_recorded_revoked(live: Live) -> None:
    task_id = live.send("taskapp.sleep", 60)
    final(live, task_id, "STARTED")
    result = cli("list", "--state", "STARTED", "--json")
    assert task_id in {t["id"] for t in json.loads(result.stdout)}
    from pooldesk.backend.taskhistory.actions import TaskActions

    actions = TaskActions(config=live.config)
    try:
        actions.revoke(task_id, terminate=True)
    finally:
        actions.close()
    row = final(live, task_id, "REVOKED")
    assert "terminated" in (row["exception"] or "")


def test_cli_lists_shows_and_groups_failures(live: Live) -> None:
    failed = live.send("taskapp.lookup", 4242)
    final(live, failed, "FAILURE")

    result = cli("list", "--state", "FAILURE", "--json")
    assert result.returncode == 0, result.stderr
    listed = {t["id"]: t for t in json.loads(result.stdout)}
    assert listed[failed]["exception"] == "KeyError('customer 4242 not found')"
    assert listed[failed]["name"] == "taskapp.lookup"

    result = cli("list", "--search", "4242", "--name", "lookup")
    assert result.returncode == 0 and failed in result.stdout

    shown = json.loads(cli("show", failed[:13], "--json").stdout)
    assert shown["id"] == failed and "KeyError" in shown["traceback"]
    assert shown["retry"] == {"as_recorded": True, "reason": None}

    groups = json.loads(cli("failures", "--since", "1h", "--json").stdout)
    lookup = next(g for g in groups if g["group"] == "KeyError: customer <n> not found")
    assert lookup["count"] >= 1 and lookup["names"] == ["taskapp.lookup"]
    assert lookup["first_seen"] <= lookup["last_seen"]


def test_retry_sends_the_same_arguments_and_an_edited_retry_the_new_ones(live: Live) -> None:
    failed = live.send("taskapp.echo", 7, "b", fail=True)
    final(live, failed, "FAILURE")

    result = cli("retry", failed, "--json")
    assert result.returncode == 0, result.stderr
    sent = json.loads(result.stdout)
    assert sent["retried"] == failed and sent["args"] == [7, "b"] and not sent["edited"]
    again = final(live, sent["id"], "FAILURE")
    assert again["args"] == "(7, 'b')" and again["kwargs"] == "{'fail': True}"
    assert again["queue"] == "default"

    result = cli("retry", failed, "--kwargs", '{"fail": false, "note": "fixed"}', "--json")
    assert result.returncode == 0, result.stderr
    edited = final(live, json.loads(result.stdout)["id"], "SUCCESS")
    assert edited["result"] == "{'args': [7, 'b'], 'kwargs': {'note': 'fixed'}}"


def test_bad_retries_send_nothing(live: Live) -> None:
    long_failed = live.send("taskapp.echo", "x" * 2000, fail=True)
    final(live, long_failed, "FAILURE")
    before = TaskQuery().count(Filter(name="taskapp.echo"))

    for argv, words in (
        (("retry", long_failed), "cut"),
        (("retry", long_failed, "--args", '["x", '), "not valid JSON"),
        (("retry", long_failed, "--args", '{"a": 1}'), "JSON array"),
        (("retry", "no-such-task-id"), "no task"),
        (("list", "--since", "yesterday-ish"), "--since"),
        (("list", "--state", "EXPLODED"), "--state"),
    ):
        result = cli(*argv)
        assert result.returncode == 2, (argv, result.stdout, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and words in result.stderr
        assert "Traceback" not in result.stderr

    # a marker sent after the refusals is recorded; a retry sent by them would be too
    marker = live.send("taskapp.add", 1, 1)
    final(live, marker, "SUCCESS")
    assert TaskQuery().count(Filter(name="taskapp.echo")) == before

    result = cli("retry", long_failed, "--args", '["short"]', "--kwargs", "{}", "--json")
    assert result.returncode == 0, result.stderr
    final(live, json.loads(result.stdout)["id"], "SUCCESS")


def test_a_killed_recorder_is_restarted_and_reports_its_gap(live: Live) -> None:
    before = read_json(service.directory() / f"{live.key}.pid.json")
    assert isinstance(before, dict)
    log = service.directory() / f"{live.key}.log"
    connects = log.read_text().count("recording task events")
    os.kill(before["recorder_pid"], signal.SIGKILL)
    running = live.send("taskapp.sleep", 8)  # sent and started while nobody records

    wait_for(
        lambda: log.read_text().count("recording task events") > connects,
        "the supervisor to start the recorder again",
    )
    after = read_json(service.directory() / f"{live.key}.pid.json")
    assert isinstance(after, dict) and after["recorder_pid"] != before["recorder_pid"]

    row = wait_for(lambda: live.row(running), "the running task found by inspect after the gap")
    assert row["name"] == "taskapp.sleep" and row["args"] == "(8,)"
    final(live, running, "SUCCESS", timeout=60)

    gaps = TaskQuery().gaps()
    assert gaps and "killed or crashed" in gaps[-1].reason
    result = cli("list", "--limit", "1")
    assert "not recorded" in result.stderr and "killed or crashed" in result.stderr


def test_a_recorder_killed_whole_learns_how_tasks_ended_meanwhile(live: Live) -> None:
    """Supervisor and recorder killed (a machine-wide kill): the worker's supervisor starts a
    new pair within seconds (taskhistory/keeper.py); tasks that ended meanwhile get their
    outcome from the result backend, marked as such."""
    info = service.info(live.key)
    short = live.send("taskapp.sleep", 2)
    failing = live.send("taskapp.sleep", 2, fail=True)
    wait_for(lambda: live.row(short) is not None and live.row(failing) is not None, "both recorded")
    os.killpg(info.supervisor_pid, signal.SIGKILL)  # type: ignore[arg-type]
    wait_for(
        lambda: service.info(live.key).supervisor_pid not in (None, info.supervisor_pid),
        "the keeper to start a new pair",
    )
    again = service.ensure_recorder(live.config)
    assert again is not None and again.supervisor_pid != info.supervisor_pid
    ended = final(live, short, "SUCCESS")
    assert ended["result"] == "2"
    failed = final(live, failing, "FAILURE")
    assert failed["exc_type"] == "TimeoutError"
    assert failed["exc_group"] == "TimeoutError: gave up after <n> s"


def test_the_recorder_is_found_again_not_started_twice(live: Live) -> None:
    before = service.info(live.key)
    assert before.running and before.recorder_pid
    again = service.ensure_recorder(live.config)
    assert again is not None and again.supervisor_pid == before.supervisor_pid
    assert [r.key for r in service.recorders()] == [live.key]
    record = (service.directory() / f"{live.key}.json").read_text()
    assert live.config.broker_url not in record  # only the masked URL is written down
    assert "****" in record
    password = live.config.broker_url.split("@")[0].rsplit(":", 1)[-1]  # type: ignore[union-attr]
    log = (service.directory() / f"{live.key}.log").read_text()
    assert password and password not in log and password not in record


def test_a_failure_group_is_retried_whole(live: Live) -> None:
    from pooldesk.backend.taskhistory.actions import TaskActions

    failed = [live.send("taskapp.lookup", n) for n in (31, 32)]
    group = final(live, failed[0], "FAILURE")["exc_group"]
    final(live, failed[1], "FAILURE")
    actions = TaskActions(config=live.config)
    try:
        plans, skipped = actions.plan_group(group)
        assert not skipped and {p.source_id for p in plans} >= set(failed)
        sent = actions.retry_plans([p for p in plans if p.source_id in failed])
    finally:
        actions.close()
    for item in sent:
        again = final(live, item.id, "FAILURE")
        assert again["exc_group"] == group and again["args"] in ("(31,)", "(32,)")


def test_a_task_whose_sender_reported_no_queue_is_retried_where_it_was_delivered(
    live: Live,
) -> None:
    """A user's client sends no task-sent event (Celery's default), so events never say the
    queue; the in-worker probe of a worker Pooldesk started reports the delivery's routing
    key, the recorder fills it in, and a retry goes back to that queue (not to Celery's
    default queue, where nobody may listen). With no queue known at all, the retry asks for
    one instead (tests/unit/test_message_catalogue.py)."""
    user_client = Celery(broker=live.config.broker_url, backend=live.config.result_backend)
    user_client.conf.update(task_send_sent_event=False, task_serializer="json")
    try:
        sent = str(user_client.send_task("taskapp.add", args=(2, 3), queue="other").id)
    finally:
        user_client.close()
    row = final(live, sent, "SUCCESS")
    wait_for(
        lambda: (live.row(sent) or {"queue": None})["queue"] == "other",
        "the probe's report of the queue it was delivered from",
    )
    result = cli("retry", sent, "--json")
    assert result.returncode == 0, result.stderr
    again = json.loads(result.stdout)
    assert again["queue"] == "other"
    assert final(live, again["id"], "SUCCESS")["worker"] == row["worker"]
