"""On CI (``POOLDESK_CI=1``, set by ``.ci/run``) a test that needs a missing program fails
instead of skipping; on a developer's machine it still skips. Proven on the real zsh
completion test, run by a child pytest whose PATH has no zsh."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEST = "tests/unit/test_completion.py::test_zsh_completes_with_its_own_words_array"


def _child(tmp_path: Path, ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "POOLDESK_CI"}
    env["PATH"] = str(tmp_path)  # no zsh here
    if ci:
        env["POOLDESK_CI"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.noqt", "-p", "no:cacheprovider",
         "--tb=short", TEST],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize("ci", [False, True])
def test_a_missing_program_skips_here_and_fails_on_ci(tmp_path: Path, ci: bool) -> None:
    done = _child(tmp_path, ci)
    if ci:
        assert done.returncode == 1, done.stdout
        assert "zsh is not installed" in done.stdout and "1 error" in done.stdout
    else:
        assert done.returncode == 0, done.stdout
        assert "1 skipped" in done.stdout
