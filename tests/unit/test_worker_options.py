"""Pure checks: Celery worker options on a spec, and dotenv parsing (line numbers, no values)."""

from __future__ import annotations

import pytest

from pooldesk.backend.projects.envfile import EnvFileError, parse_pairs, parse_text
from pooldesk.backend.workers.process import celery_argv
from pooldesk.backend.workers.spec import WorkerSpec


def test_options_become_arguments_in_order() -> None:
    spec = WorkerSpec(
        "w",
        loglevel="debug",
        max_tasks_per_child=100,
        max_memory_per_child=200_000,
        time_limit=60,
        soft_time_limit=50.5,
        extra_args=("--prefetch-multiplier", "8"),
    ).validate()
    argv = celery_argv(spec)
    tail = argv[argv.index("--loglevel") :]
    assert tail == [
        "--loglevel", "DEBUG", "--max-tasks-per-child", "100", "--max-memory-per-child",
        "200000", "--time-limit", "60", "--soft-time-limit", "50.5", "--prefetch-multiplier", "8",
    ]  # fmt: skip
    assert celery_argv(WorkerSpec("w"))[-2:] == ["--loglevel", "INFO"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"loglevel": "LOUD"}, "loglevel 'LOUD'"),
        ({"max_tasks_per_child": 0}, "max-tasks-per-child 0"),
        ({"time_limit": -1}, "time-limit -1"),
        ({"time_limit": 5, "soft_time_limit": 10}, "soft-time-limit 10 must be below"),
        ({"extra_args": ("8",)}, "start with an option"),
        ({"extra_args": ("-Q", "x")}, "-Q: use --queues"),
        ({"extra_args": ("--broker=redis://h",)}, "--broker: the broker comes from"),
        ({"extra_args": ("--pidfile", "/tmp/x")}, "--pidfile"),
    ],
)
def test_bad_options_are_named(changes: dict[str, object], expected: str) -> None:
    problems = WorkerSpec("w", **changes).problems()  # type: ignore[arg-type]
    assert any(expected in p for p in problems), problems


def test_env_file_parses_like_dotenv_and_names_lines_not_values() -> None:
    text = "# comment\n\nexport A=1\nB='two words'\nC=\"x\\ny\" # note\nD=plain # note\nE=\n"
    assert parse_text(text) == {"A": "1", "B": "two words", "C": "x\ny", "D": "plain", "E": ""}
    for bad, line in (("A=1\nsecretvalue\n", 2), ("A=1\n\n1X=v\n", 3), ('Q="open\n', 1)):
        with pytest.raises(EnvFileError) as err:
            parse_text(bad, "env file .env")
        assert f"line {line}" in str(err.value) and "secretvalue" not in str(err.value)
    with pytest.raises(EnvFileError) as err:
        parse_pairs(["NOEQUALS"])
    assert "KEY=value" in str(err.value)
