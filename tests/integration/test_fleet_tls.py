"""The fleet over a TLS broker (``rediss://``): end to end, and the server's certificate is
verified — a URL that does not name the CA reaches nothing (kombu alone would not verify)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pooldesk.backend.fleet.agent import Agent
from pooldesk.backend.fleet.client import FleetClient
from pooldesk.backend.fleet.key import init_key, read_key
from pooldesk.backend.fleet.watch import HostWatcher
from pooldesk.backend.operations import Operations
from pooldesk.backend.workers.manager import WorkerManager
from tests.projects_sample import free_port

pytestmark = [pytest.mark.slow, pytest.mark.program("openssl"), pytest.mark.program("redis-server")]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A redis-server speaking TLS only, with a certificate from a CA made here."""
    d = tmp_path / "tls"
    d.mkdir()
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
             "ca.crt", "-days", "2", "-subj", "/CN=pooldesk-test-ca", cwd=d)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr",
             "-subj", "/CN=127.0.0.1", cwd=d)  # fmt: skip
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "srv.crt", "-days", "2", "-extfile", "ext.cnf",
             cwd=d)  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        [str(shutil.which("redis-server")), "--port", "0", "--bind", "127.0.0.1",
         "--tls-port", str(port), "--tls-cert-file", "srv.crt", "--tls-key-file", "srv.key",
         "--tls-ca-cert-file", "ca.crt", "--tls-auth-clients", "no", "--save", "",
         "--appendonly", "no"],
        cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert server.poll() is None and time.monotonic() < deadline, "no TLS redis-server"
            time.sleep(0.05)
        yield port, d / "ca.crt"
    finally:
        server.kill()
        server.wait(timeout=10)


def test_an_agent_on_a_tls_broker_is_seen_and_answers(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tls_redis: tuple[int, Path]
) -> None:
    port, ca = tls_redis
    url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={ca}"
    monkeypatch.setenv("POOLDESK_BROKER_URL", url)
    unverified = HostWatcher(url=f"rediss://127.0.0.1:{port}/0")  # the system CAs: not ours
    assert not unverified.link.open()
    unverified.close()

    key = read_key(init_key(tmp_path / "fleet.key"))
    host = f"tls-{uuid.uuid4().hex[:8]}"
    manager = WorkerManager()
    agent = Agent(host, key, lambda: Operations(manager), url=url, sample_s=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    thread.start()
    watcher, client = HostWatcher(url=url), FleetClient(key, url=url)
    try:
        deadline = time.monotonic() + 15
        while not watcher.registry.online(host):
            assert time.monotonic() < deadline, "the agent was never heard over TLS"
            watcher.poll(0.2)
        rid = client.send(host, "worker", {"op": "forget", "name": "nobody", "params": {}})
        result = client.wait(rid, timeout=10)
        assert result is not None and result["host"] == host and not result["ok"]
    finally:
        stop.set()
        thread.join(timeout=10)
        watcher.close()
        client.close()
        manager.close()
    assert not thread.is_alive()
