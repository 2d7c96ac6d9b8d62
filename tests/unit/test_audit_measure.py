"""Task history → the audit's measurements: runtimes, waits, ETAs, and an id started twice.

The store keeps one row per task id; a redelivered message starts the same id again, and the
row keeps its first start (``started_first_ts``) beside its latest, which is how the audit can
say "task history saw one id start twice" — but not for a retry, which also starts again.
"""

from __future__ import annotations

from pooldesk.backend.audit.measure import eta_seconds, fold, prefetch_option
from pooldesk.backend.taskhistory.normalise import row_of
from pooldesk.backend.taskhistory.query import TaskQuery
from pooldesk.backend.taskhistory.store import TaskStore, merge

NOW = 1_800_000_000.0


def row(task_id: str, **kw):
    base = {
        "id": task_id,
        "name": "reports.build",
        "queue": "default",
        "state": "SUCCESS",
        "first_ts": NOW - 100,
    }
    base.update(kw)
    return base


def test_fold_counts_runs_waits_and_a_second_start():
    rows = [
        row("a", runtime=8.0, received_ts=NOW - 50, started_ts=NOW - 45, started_first_ts=NOW - 50),
        row("b", runtime=2.0, received_ts=NOW - 20, started_ts=NOW - 20, started_first_ts=NOW - 20),
        row("c", runtime=3.0, started_ts=NOW - 5, started_first_ts=NOW - 9, retries=1),
    ]
    [stats] = fold(rows, NOW).tasks
    assert (stats.runs, stats.max_s, stats.median_s) == (3, 8.0, 3.0)
    assert stats.max_wait_s == 5.0
    assert stats.started_twice == 1  # "a"; "c" started again because it was retried


def test_a_task_that_replaces_itself_is_not_started_twice():
    """``Task.replace`` keeps the id and sends the new message from inside the task (its parent
    is itself): the demo's batch watcher does that every 2 s and was reported as running twice."""
    rows = [
        row("w", runtime=0.01, started_ts=NOW - 5, started_first_ts=NOW - 90, parent_id="w"),
        row("r", runtime=0.01, started_ts=NOW - 5, started_first_ts=NOW - 90, parent_id="p"),
    ]
    [stats] = fold(rows, NOW).tasks
    assert stats.started_twice == 1  # "r", redelivered; "w" replaced itself


def test_eta_waiting_and_how_far_ahead():
    eta = "2027-01-15T08:00:00+00:00"
    sent = eta_seconds(eta) - 7200
    rows = [row("e", state="RECEIVED", eta=eta, sent_ts=sent, runtime=None)]
    [stats] = fold(rows, sent + 1).tasks
    assert stats.eta_waiting == 1 and stats.max_eta_s == 7200.0
    assert eta_seconds("not a date") is None and eta_seconds(None) is None
    assert eta_seconds("2027-01-15T08:00:00") is None  # no zone: not guessed


def test_groups_span_from_first_sent_to_last_finished():
    rows = [
        row("x.1", batch="x", sent_ts=NOW - 100, ended_ts=NOW - 90, runtime=1.0),
        row("x.2", batch="x", sent_ts=NOW - 99, ended_ts=NOW - 10, runtime=1.0),
    ]
    [group] = fold(rows, NOW).groups
    assert (group.group, group.tasks, group.span_s) == ("x", 2, 90.0)


def test_a_chain_sent_over_time_is_not_a_group_but_a_chord_is():
    chain = [
        row(f"c{i}", root_id="root", sent_ts=NOW - 1000 + i * 300, ended_ts=NOW - 990 + i * 300)
        for i in range(4)
    ]
    chord = [row(f"h{i}", root_id="root2", sent_ts=NOW - 500, ended_ts=NOW - 500 + i * 100)
             for i in range(4)]  # fmt: skip
    groups = {g.group: g for g in fold(chain + chord, NOW).groups}
    assert "root" not in groups  # each link sent when the one before ended
    assert groups["root2"].span_s == 300.0


def test_prefetch_option_from_pass_through_args():
    assert prefetch_option(["--prefetch-multiplier", "1"]) == 1
    assert prefetch_option(["--prefetch-multiplier=8"]) == 8
    assert prefetch_option(["--prefetch-multiplier=x"]) == "x"
    assert prefetch_option(["--without-heartbeat"]) is None


def test_the_store_keeps_an_ids_first_start(tmp_path):
    def started(ts):
        return row_of(
            {"type": "task-started", "uuid": "t1", "timestamp": ts, "hostname": "w@h"},
            False,
            "redis://x",
        )

    store = TaskStore(tmp_path / "tasks.db")
    store.write([started(NOW)])
    store.write([started(NOW + 6)])
    store.write([started(NOW + 6)])  # the same event twice changes nothing
    got = dict(
        TaskQuery(tmp_path / "tasks.db")
        .conn()
        .execute("SELECT started_ts, started_first_ts FROM tasks WHERE id='t1'")
        .fetchone()
    )
    assert got == {"started_ts": NOW + 6, "started_first_ts": NOW}
    merged = merge(started(NOW + 6), started(NOW))
    assert merged["started_first_ts"] == NOW
    store.close()


def test_an_older_file_gets_the_column(tmp_path):
    import sqlite3

    from pooldesk.backend.taskhistory.store import SCHEMA

    path = tmp_path / "tasks.db"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA.replace(", started_first_ts REAL", ""))
    conn.execute("INSERT INTO tasks (id, broker, first_ts, started_ts) VALUES ('old', 'b', 1, 2)")
    conn.commit()
    conn.close()
    store = TaskStore(path)
    store.write([row_of({"type": "task-started", "uuid": "old", "timestamp": 9.0}, False, "b")])
    store.close()
    got = (
        sqlite3.connect(path)
        .execute("SELECT started_ts, started_first_ts FROM tasks WHERE id='old'")
        .fetchone()
    )
    assert got == (9.0, 9.0)  # the old row had no first start recorded: this one is it
