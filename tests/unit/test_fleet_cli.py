"""The fleet's commands on bad input: one clear line, exit 2, nothing started or written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clirun import pooldesk


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"POOLDESK_HOME": str(tmp_path / "home"), "POOLDESK_FLEET_KEY_FILE": ""}


def test_key_init_writes_0600_and_never_overwrites(env: dict[str, str], tmp_path: Path) -> None:
    first = pooldesk("fleet", "key", "init", "--json", env=env)
    assert first.returncode == 0, first.stderr
    path = Path(json.loads(first.stdout)["path"])
    assert path == tmp_path / "home" / "fleet.key" and path.stat().st_mode & 0o777 == 0o600
    again = pooldesk("fleet", "key", "init", env=env)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_a_key_others_can_read_stops_the_agent_before_it_starts(
    env: dict[str, str], tmp_path: Path
) -> None:
    key = tmp_path / "k"
    assert pooldesk("fleet", "key", "init", "--path", str(key), env=env).returncode == 0
    key.chmod(0o644)
    result = pooldesk("agent", "serve", env={**env, "POOLDESK_FLEET_KEY_FILE": str(key)})
    assert result.returncode == 2 and "chmod 600" in result.stderr
    assert not (tmp_path / "home" / "broker").exists()  # nothing started


def test_commanding_without_a_key_says_watch_only_and_starts_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    result = pooldesk("worker", "stop", "w1", "--host", "elsewhere", env=env)
    assert result.returncode == 2 and "can watch hosts but not command" in result.stderr
    assert not (tmp_path / "home" / "broker").exists()


def test_env_values_are_never_sent_to_another_host(env: dict[str, str], tmp_path: Path) -> None:
    result = pooldesk(
        "project", "add", "p", "--host", "elsewhere", "--python", "/usr/bin/python3",
        "--workdir", "/srv", "--app", "p", "--env", "TOKEN=s3cret", env=env,
    )  # fmt: skip
    assert result.returncode == 2 and "--env-file" in result.stderr
    assert "s3cret" not in result.stderr
