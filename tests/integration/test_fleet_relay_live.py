"""Pool fit for a worker on another host whose project runs on a broker of its own (issue 20).

The panel listens on the fleet's broker; the project on host ``web-2`` uses another one (a
second Redis-compatible server, as a user's own broker would be), so the panel hears none of
its workers' reports itself. The agent on ``web-2`` listens there and relays them: ``pooldesk
fit`` on the panel must then measure that worker's queue — a blocking C call under gevent, the
classic trap — name the worker on web-2, and offer the prefork fix, which runs through the agent.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.integration.fleet_agents import (  # noqa: F401
    OWN_HOST,
    OWN_QUEUE,
    Fleet,
    cli_json,
    own_broker_fleet_fixture,
    start_trapped_worker,
)

pytestmark = pytest.mark.slow

HOST, QUEUE = OWN_HOST, OWN_QUEUE


def test_a_host_worker_on_its_projects_own_broker_is_measured_and_fixed(
    own_broker_fleet: tuple[Fleet, str],
) -> None:
    fleet, own = own_broker_fleet
    start_trapped_worker(fleet, own, "shopw")

    rows: dict[str, Any] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the probe reports within 2 s; the relay each second
        rows = {r["queue"]: r for r in cli_json(fleet, "fit", "--seconds", "4")}
        if rows.get(QUEUE, {}).get("verdict") == "trap":
            break
    row = rows.get(QUEUE)
    assert row is not None, f"the panel never measured {QUEUE}: {sorted(rows)}"
    assert row["verdict"] == "trap" and row["nature"] == "blocking", row
    assert row["workers"] == [f"shopw on {HOST}: gevent × 8"] and row["runs"] >= 8
    fix = row["fix"]
    assert fix["kind"] == "restart_worker" and fix["params"]["name"] == "shopw"
    assert fix["params"]["pool"] == "prefork"

    # The fix, as the window's Fix… sends it for a host's worker: through web-2's agent.
    fixed = cli_json(
        fleet, "worker", "restart", "shopw", "--host", HOST,
        "--pool", "prefork", "-c", str(fix["params"]["concurrency"]),
    )  # fmt: skip
    assert fixed["state"] == "online" and fixed["pool"] == "prefork" and fixed["host"] == HOST
    assert cli_json(fleet, "worker", "stop", "shopw", "--host", HOST)["state"] == "stopped"
