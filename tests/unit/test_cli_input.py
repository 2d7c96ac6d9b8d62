"""The ``pooldesk`` entry point refusing what it must refuse, before any broker or worker starts.

(The commands that start things are tested in tests/integration/test_cli.py.)
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from pooldesk.backend import __version__
from tests.clirun import pooldesk


def test_version() -> None:
    out = pooldesk("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"pooldesk {__version__}"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["worker", "start", "x", "--concurrency", "abc"], "'abc' is not a whole number"),
        (["worker", "start", "x", "--concurrency", "0"], "must be >= 1"),
        (["worker", "start", "x", "--pool", "eventlet"], "invalid choice: 'eventlet'"),
        (["worker", "start", "a b", "--queues", "ok"], "name 'a b'"),
        (["worker", "start", "x", "--queues", "bad queue"], "queue 'bad queue'"),
        (["worker", "start", "x", "--pool", "gevent", "-c", "10001"], "at most 10,000"),
        (["worker", "start", "x", "--autoscale", "lots"], "give max,min"),
        (["batch", "monitor", "--url", "http://a.example", "--urls-per-task", "0"], "must be >= 1"),
        (
            ["batch", "monitor", "--url", "http://a.example", "--urls-per-task", "5000"],
            "URLs per task 5000: must be a whole number from 1 to 1,000",
        ),
        (["worker", "frobnicate"], "invalid choice: 'frobnicate'"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_flags_one_line_exit_2_nothing_started(
    home: Path, args: list[str], fragment: str
) -> None:
    out = pooldesk(*args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], out.stderr
    assert "Traceback" not in out.stderr
    assert not (home / "workers").exists() or not list((home / "workers").iterdir())
    assert not (home / "broker" / "broker.json").exists()  # not even the broker was started


def test_unreachable_broker_is_one_line_exit_1(home: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {"POOLDESK_BROKER_URL": f"redis://:hunter2@127.0.0.1:{port}/0"}
    for args in (["broker", "status"], ["worker", "start", "w", "--wait"]):
        out = pooldesk(*args, env=env)
        assert out.returncode == 1, out
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "broker unreachable" in lines[0]
        assert "hunter2" not in out.stderr and "Traceback" not in out.stderr
