"""A pytest plugin that runs the tests as if PySide6 were not installed: ``-p tests.noqt``.

``backend`` must work where PySide6 is absent (a server, a CI runner, the CLI alone), and so
must its tests: the unit and integration tiers. A second virtualenv without PySide6 would prove
it too, but costs a full install on every clean CI run; blocking the imports costs nothing.
Loaded with ``-p`` it is in place before any conftest or test module is imported, and from then
on importing PySide6, shiboken6, pyqtgraph or superqt raises ModuleNotFoundError, as it would
without them (``pytest.importorskip`` skips, a stray ``import`` fails the test). pytest-qt
needs Qt at start-up, so it is turned off too (no ``qtbot``), as in a venv without Qt.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType

import pytest

BLOCKED = ("PySide6", "shiboken6", "pyqtgraph", "superqt")


class _NoQt(MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(
                f"No module named {fullname!r} (tests run as if Qt were absent: tests/noqt.py)",
                name=fullname,
            )
        return None  # everything else: the usual finders


def _install() -> None:
    loaded = sorted(name for name in sys.modules if name.partition(".")[0] in BLOCKED)
    if loaded:  # too late to pretend: something imported Qt before this plugin was loaded
        raise pytest.UsageError(f"tests/noqt.py loaded after Qt was imported: {loaded[:3]}")
    if not any(isinstance(finder, _NoQt) for finder in sys.meta_path):
        sys.meta_path.insert(0, _NoQt())


_install()


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """Runs as this plugin registers, before the installed plugins load: pytest-qt stays out,
    and its settings in pyproject.toml are known options here (no "unknown option" warning)."""
    if pluginmanager.has_plugin("pytest-qt"):
        raise pytest.UsageError("tests/noqt.py must be loaded with -p, before pytest-qt")
    pluginmanager.set_blocked("pytest-qt")
    parser.addini("qt_api", "pytest-qt's Qt binding (pytest-qt is off: no Qt here)")
    parser.addini("qt_default_raising", "pytest-qt's Qt message handling (off here)")
