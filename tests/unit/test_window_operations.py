"""The window's worker service operates workers only through the operations API (issue 20).

The import contract ``desktop-through-operations`` (pyproject.toml) keeps ``pooldesk.desktop``
from importing the worker manager; it cannot see a reach-through such as
``self._ops.manager.stop(name)``. This test reads the service's source and fails on any such
path: an attribute named like the manager or its parts, or a lifecycle call on anything but the
service itself (its own slots are named ``start``, ``stop``…). Parsed, not imported: it runs
where PySide6 is absent.
"""

from __future__ import annotations

import ast
from pathlib import Path

SERVICE = Path(__file__).resolve().parents[2] / "desktop" / "services" / "workers.py"

# What only the manager (or its stopper and brokers) has: a window calling one of these on
# anything but itself is operating a worker behind the API's back.
LIFECYCLE = {
    "start",
    "stop",
    "restart",
    "resize",
    "forget",
    "logs",
    "request_stop",
    "request_restart",
    "restart_spec",
    "tick_stops",
    "finish_stop",
    "set_queues",
    "remote_shutdown",
    "remote_resize",
    "remote_set_queues",
    "hurry",
    "wait_ready",
}
FORBIDDEN_NAMES = {"manager", "_manager", "stopper", "brokers", "WorkerManager", "apply_fix"}


def violations(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_NAMES:
            found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            found.append(f"line {node.lineno}: {node.id}")
        elif isinstance(node, ast.alias) and node.name.rsplit(".", 1)[-1] in FORBIDDEN_NAMES:
            found.append(f"import of {node.name}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in LIFECYCLE
            and not (isinstance(node.func.value, ast.Name) and node.func.value.id == "self")
            and not ast.unparse(node.func.value).endswith("timer")  # a QTimer's start
        ):
            found.append(f"line {node.lineno}: {ast.unparse(node.func)}(…)")
    return found


def test_the_window_service_only_submits_and_ticks() -> None:
    source = SERVICE.read_text()
    assert violations(source) == []
    calls = {
        node.func.attr
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert {"submit", "tick"} <= calls


def test_the_check_catches_a_reach_through() -> None:
    """A check that cannot fail proves nothing: the ways back to the manager are caught."""
    bad = (
        "from pooldesk.backend.workers.manager import WorkerManager\n"
        "from pooldesk.backend.advisor.service import apply_fix\n"
        "class C:\n"
        "    def stop(self, name):\n"
        "        self._ops.manager.request_stop(name)\n"
        "        ops = self._ops\n"
        "        ops.forget(name)\n"
        "        self.start(name)\n"  # the service's own slot: fine
        "        self._refresh_timer.start(250)\n"  # a QTimer: fine
    )
    found = violations(bad)
    assert "import of WorkerManager" in found and "import of apply_fix" in found
    assert "line 5: .manager" in found
    assert "line 5: self._ops.manager.request_stop(…)" in found
    assert "line 7: ops.forget(…)" in found
    assert not any("self.start" in f or "timer" in f for f in found)
