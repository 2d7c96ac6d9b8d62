"""Two fleet agents on this machine, each a real process with its own POOLDESK_HOME and host
name, on the panel's managed broker: shared by the fleet integration tests of one module."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.clirun import pooldesk
from tests.conftest import POOLDESK_ENV, _kill_home

HOSTS = ("host-a", "host-b")


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
        from pooldesk.backend.broker import ensure_broker
        from pooldesk.backend.fleet.key import init_key

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
