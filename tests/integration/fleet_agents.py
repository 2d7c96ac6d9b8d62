"""Fleet agents on this machine, each a real process with its own POOLDESK_HOME and host name,
on the panel's managed broker: two for the fleet tests, or one beside a second broker that a
user's project uses as its own (the relay tests, integration and desktop)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from pooldesk.backend.broker import ensure_broker
from pooldesk.backend.fleet.key import init_key
from tests.clirun import pooldesk
from tests.conftest import POOLDESK_ENV, _kill_home

HOSTS = ("host-a", "host-b")
OWN_HOST = "web-2"
ROOT = Path(__file__).resolve().parents[2]  # a project's workdir: tests.fitapp imports from it
OWN_QUEUE = "fit_block"  # tests.fitapp's blocking C call: the gevent trap


@dataclass
class Fleet:
    root: Path
    url: str
    key: Path
    agents: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def home(self, host: str) -> Path:
        return self.root / host

    def log(self, host: str) -> str:
        return (self.root / f"{host}.log").read_text(errors="replace")

    def start_agent(self, host: str) -> None:
        env = {
            **os.environ,
            "POOLDESK_HOME": str(self.home(host)),
            "POOLDESK_BROKER_URL": self.url,
            "POOLDESK_FLEET_KEY_FILE": str(self.key),
        }
        with open(self.root / f"{host}.log", "ab") as log:
            self.agents[host] = subprocess.Popen(
                [sys.executable, "-m", "pooldesk.backend", "agent", "serve", "--host-name", host],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill_agent(self, host: str, sig: int = signal.SIGKILL) -> None:
        agent = self.agents.pop(host)
        with contextlib.suppress(ProcessLookupError):
            os.kill(agent.pid, sig)  # the agent only: its workers are in sessions of their own
        agent.wait(timeout=15)

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return pooldesk(*args, env=env or None, timeout=120)

    def wait_log(self, host: str, text: str, count: int = 1, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while self.log(host).count(text) < count:
            assert time.monotonic() < deadline, f"{host} never logged {text!r}:\n{self.log(host)}"
            time.sleep(0.1)


@pytest.fixture(scope="module", name="fleet")
def fleet_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("fleet")
    with pytest.MonkeyPatch.context() as mp:
        for var in (*POOLDESK_ENV, "POOLDESK_FLEET_KEY_FILE", "POOLDESK_FLEET_HOST"):
            mp.delenv(var, raising=False)
        mp.setenv("POOLDESK_HOME", str(root / "panel"))
        url = ensure_broker().broker_url
        assert url
        fleet = Fleet(root, url, init_key())
        try:
            for host in HOSTS:
                fleet.start_agent(host)
            for host in HOSTS:
                fleet.wait_log(host, "serving on")
            yield fleet
        finally:
            for host in list(fleet.agents):
                fleet.kill_agent(host)
            for host in HOSTS:
                _kill_home(fleet.home(host))
            _kill_home(root / "panel")


@pytest.fixture(scope="module", name="own_broker_fleet")
def own_broker_fleet_fixture(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Fleet, str]]:
    """A panel, one agent (``OWN_HOST``) and a second broker for a user's project (its own, not
    the fleet's: the panel never listens there), each with its own home."""
    root = tmp_path_factory.mktemp("relay")
    with pytest.MonkeyPatch.context() as mp:
        for var in (*POOLDESK_ENV, "POOLDESK_FLEET_KEY_FILE", "POOLDESK_FLEET_HOST"):
            mp.delenv(var, raising=False)
        mp.setenv("POOLDESK_HOME", str(root / "own-broker"))
        own = ensure_broker().broker_url  # a second server: the user's broker, not the fleet's
        mp.setenv("POOLDESK_HOME", str(root / "panel"))
        fleet_url = ensure_broker().broker_url
        assert own and fleet_url and own != fleet_url
        fleet = Fleet(root, fleet_url, init_key())
        try:
            fleet.start_agent(OWN_HOST)
            fleet.wait_log(OWN_HOST, "serving on")
            yield fleet, own
        finally:
            for host in list(fleet.agents):
                fleet.kill_agent(host)
            for home in (fleet.home(OWN_HOST), root / "panel", root / "own-broker"):
                _kill_home(home)


def cli_json(fleet: Fleet, *args: str) -> Any:
    result = fleet.cli(*args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def add_own_project(fleet: Fleet, own: str, env_name: str) -> None:
    """The user's project ``shop`` (tests.fitapp, on its ``own`` broker) registered on
    ``OWN_HOST``; its broker URL in an env file there (``env_name``): no secret is sent."""
    env_file = fleet.home(OWN_HOST).parent / env_name
    env_file.write_text(f"CELERY_BROKER_URL={own}\nCELERY_RESULT_BACKEND={own}\n")
    env_file.chmod(0o600)
    check = cli_json(
        fleet, "project", "add", "shop", "--host", OWN_HOST, "--python", sys.executable,
        "--workdir", str(ROOT), "--app", "tests.fitapp:app", "--env-file", str(env_file),
    )["check"]  # fmt: skip
    assert check["ok"], check


def start_trapped_worker(fleet: Fleet, own: str, name: str, runs: int = 8) -> None:
    """The user's project ``shop`` (tests.fitapp on its ``own`` broker) registered on
    ``OWN_HOST``, a gevent worker of it there on ``OWN_QUEUE``, and ``runs`` blocking tasks
    sent to the project's broker and finished: its probe has measured the trap."""
    add_own_project(fleet, own, "shop.env")
    started = cli_json(
        fleet, "worker", "start", name, "--host", OWN_HOST, "--project", "shop",
        "-P", "gevent", "-c", "8", "-Q", OWN_QUEUE, "--wait",
    )  # fmt: skip
    assert started["state"] == "online" and started["host"] == OWN_HOST
    app = Celery("shop-client", broker=own, backend=own)
    try:
        results = [app.send_task("fitapp.block", args=[0.3], queue=OWN_QUEUE) for _ in range(runs)]
        for result in results:
            result.get(timeout=90)
    finally:
        app.close()
