"""The import boundaries of pyproject.toml's ``[tool.importlinter]``: kept by the real tree, and
broken, each one, by a small stand-in tree that does what they forbid (a check that cannot fail
proves nothing). ``make lint`` runs the same ``lint-imports``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.import_contracts import strongly_connected

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

# A stand-in ``pooldesk.backend`` and ``pooldesk.desktop`` (``pooldesk`` a namespace, as in
# the wheel), found before the real ones (first on sys.path).
CLEAN = {
    "pooldesk/backend/__init__.py": "",
    "pooldesk/backend/broker.py": "import redis\n",
    "pooldesk/backend/service.py": "import celery\n\nfrom pooldesk.backend import broker\n",
    "pooldesk/desktop/__init__.py": "",
    "pooldesk/desktop/views/__init__.py": "",
    # indirect through backend: allowed
    "pooldesk/desktop/views/page.py": "import PySide6\n\nfrom pooldesk.backend import service\n",
    "pooldesk/desktop/models/__init__.py": "",
    "pooldesk/desktop/models/rows.py": "from pooldesk.backend.service import celery as _c\n",
    "pooldesk/backend/workers/__init__.py": "",
    "pooldesk/backend/workers/manager.py": "",
    "pooldesk/backend/workers/stopping.py": "",
    "pooldesk/backend/workers/escalation.py": "",
    "pooldesk/backend/workers/starting.py": "",
    "pooldesk/backend/operations.py": "from pooldesk.backend.workers import manager\n",
    "pooldesk/desktop/scene.py": "from pooldesk.backend.workers import manager\n",  # excepted
    "pooldesk/desktop/services/__init__.py": "",
    # the manager through the operations API: allowed
    "pooldesk/desktop/services/workers.py": "from pooldesk.backend import operations\n",
}
VIOLATIONS = {
    "pooldesk/backend/service.py": (
        "import celery\n\nfrom pooldesk.backend import broker\nimport pyqtgraph\n"
    ),
    "pooldesk/backend/broker.py": (
        "import redis\n\n\ndef later():\n    from pooldesk.backend import service\n"
    ),
    "pooldesk/desktop/views/page.py": "import PySide6\n\nimport kombu\n",
    "pooldesk/desktop/services/workers.py": (
        "from pooldesk.backend import operations\nfrom pooldesk.backend.workers import manager\n"
    ),
}


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with the project's contracts on the tree at ``root``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(REPO)])}
    return subprocess.run(
        [str(LINT_IMPORTS), str(REPO / "pyproject.toml"), "--no-cache", "--no-logo"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_real_tree_keeps_every_contract() -> None:
    done = _lint(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 kept, 0 broken" in done.stdout


def test_a_tree_within_the_boundaries_passes(tmp_path: Path) -> None:
    done = _lint(_tree(tmp_path, CLEAN))
    assert done.returncode == 0, done.stdout + done.stderr


def test_each_contract_fails_on_what_it_forbids(tmp_path: Path) -> None:
    done = _lint(_tree(tmp_path, {**CLEAN, **VIOLATIONS}))
    out = " ".join(done.stdout.split())
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0 kept, 4 broken" in out
    assert "pooldesk.desktop.services.workers -> pooldesk.backend.workers.manager" in out
    assert "pooldesk.backend.service -> pyqtgraph" in out
    assert "pooldesk.desktop.views.page -> kombu" in out
    assert (
        "These modules import each other: pooldesk.backend.broker, pooldesk.backend.service" in out
    )


def test_cycles_are_found_however_long_and_only_where_they_are() -> None:
    edges = {
        "a": {"b"},
        "b": {"c"},
        "c": {"a", "d"},  # a -> b -> c -> a
        "d": {"e"},
        "e": set(),
        "f": {"f"},  # importing itself is no cycle between modules
        "g": {"h"},
        "h": {"g"},
    }
    assert strongly_connected(edges) == [["a", "b", "c"], ["g", "h"]]
    chain = {f"m{i}": {f"m{i + 1}"} for i in range(5_000)}  # deep: no recursion limit
    chain["m5000"] = {"m0"}
    assert len(strongly_connected(chain)[0]) == 5_001


@pytest.mark.parametrize("parallel", [[], ["-n", "2"]], ids=["alone", "xdist"])
def test_the_no_qt_run_fails_a_test_that_imports_qt(tmp_path: Path, parallel: list[str]) -> None:
    """``make test-noqt`` (``-p tests.noqt``) behaves as a venv without PySide6 would, in its
    parallel run's xdist processes too."""
    (tmp_path / "test_stray.py").write_text(
        "import pytest\n\n\n"
        "def test_imports_qt():\n    import PySide6  # noqa: F401\n\n\n"
        "def test_skips_without_qt():\n    pytest.importorskip('pyqtgraph')\n\n\n"
        "def test_no_qtbot(request):\n"
        "    assert 'qtbot' not in request.fixturenames\n"
    )
    isolated = ["-p", "no:cacheprovider", "-c", os.devnull, "--rootdir", str(tmp_path)]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.noqt",
            *isolated,
            *parallel,
            str(tmp_path),
        ],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "1 failed, 1 passed, 1 skipped" in done.stdout, done.stdout + done.stderr
    assert "No module named 'PySide6'" in done.stdout


def test_every_test_file_is_in_a_tier() -> None:
    """``make test`` runs tests/unit, tests/integration and tests/desktop: a test file left at
    the top of tests/ would never run there."""
    stray = sorted(path.name for path in (REPO / "tests").glob("test_*.py"))
    assert not stray, f"move to tests/unit, tests/integration or tests/desktop: {stray}"
