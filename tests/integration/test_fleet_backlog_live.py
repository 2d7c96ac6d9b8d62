"""A host project's backlog on its own broker, sampled by the host's agent (the panel cannot
reach that broker): tasks sent to a queue its worker consumes, with that worker stopped, must
show in ``pooldesk host list --json`` as waiting, and the broker's password must never travel."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from celery import Celery

from tests.integration.fleet_agents import (  # noqa: F401
    OWN_HOST,
    Fleet,
    add_own_project,
    cli_json,
    own_broker_fleet_fixture,
)

pytestmark = pytest.mark.slow

QUEUE = "shop_backlog"
WAITING = 7


def test_a_host_projects_backlog_on_its_own_broker_is_listed(
    own_broker_fleet: tuple[Fleet, str],
) -> None:
    fleet, own = own_broker_fleet
    add_own_project(fleet, own, "shop-backlog.env")
    started = cli_json(
        fleet, "worker", "start", "shopq", "--host", OWN_HOST, "--project", "shop",
        "-c", "1", "-Q", QUEUE, "--wait",
    )  # fmt: skip
    assert started["state"] == "online"
    # Stopped, it stays listed: its queue has no consumer, so what is sent there waits.
    assert cli_json(fleet, "worker", "stop", "shopq", "--host", OWN_HOST)["state"] == "stopped"
    app = Celery("shop-client", broker=own, backend=own)
    try:
        for _ in range(WAITING):
            app.send_task("fitapp.block", args=[0.0], queue=QUEUE)
    finally:
        app.close()

    password = own.split("@")[0].rsplit(":", 1)[1]
    assert password
    backlog: list[Any] = []
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:  # the agent samples every 5 s
        result = fleet.cli("host", "list", "--json")
        assert result.returncode == 0, result.stderr
        assert password not in result.stdout
        (row,) = [r for r in json.loads(result.stdout) if r["name"] == OWN_HOST]
        backlog = row["backlog"]
        if backlog and backlog[0]["queues"].get(QUEUE) == WAITING:
            break
    assert backlog, "the agent never published its project's backlog"
    (entry,) = backlog
    assert entry["project"] == "shop" and entry["up"] is True and entry["stale"] is False
    assert entry["queues"] == {QUEUE: WAITING}
    assert entry["broker"] and password not in entry["broker"]
