"""Bounds on inputs that used to fail late or eat the machine (issue 24, item 12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pooldesk.backend.projects.envfile import EnvFileError, parse_file
from tests.clirun import pooldesk


def test_a_huge_env_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    env = tmp_path / "big.env"
    env.write_text("".join(f"K{i}={'x' * 1000}\n" for i in range(10_000)))  # ~10 MB
    with pytest.raises(EnvFileError, match=r"env file .*big\.env: .*MiB"):
        parse_file(env)


def test_one_oversized_variable_is_named(tmp_path: Path) -> None:
    env = tmp_path / "one.env"
    env.write_text(f"OK=1\nHUGE={'y' * 200_000}\n")
    with pytest.raises(EnvFileError, match="HUGE is 195 KiB"):
        parse_file(env)


def test_demo_seed_has_an_upper_bound(tmp_path: Path) -> None:
    done = pooldesk(
        "demo", "seed", "--customers", "100000000", env={"POOLDESK_HOME": str(tmp_path)}
    )
    assert done.returncode == 2
    assert "at most 1,000,000" in done.stderr and "Traceback" not in done.stderr
