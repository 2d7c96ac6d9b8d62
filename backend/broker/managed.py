"""Pooldesk's own redis-server: the embedded default broker.

It listens on 127.0.0.1 only, with a random password and ``protected-mode yes``, and keeps an
append-only file under ``$POOLDESK_HOME/broker/`` so queued tasks survive a restart. It runs
daemonized (outliving the window that started it) and is found again through ``broker.json``
(mode 0600: it holds the password). The port and password are kept across restarts so workers
that were started earlier reconnect by themselves to the same URL.

One per data directory, guaranteed: starts hold the broker's lock (``broker/.lock``), and a
server whose record was lost (``found.servers_in``: the process whose cwd is this directory)
is adopted, never doubled. The port never moves silently: if another program took it while
the broker was stopped, the start fails and names the holder (moving would strand every worker
on the old URL, retrying forever while listed online); ``--new-port`` moves it on purpose.
A watchdog (``watchdog.py``) shuts the server down when its data directory is deleted.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from pooldesk.backend import paths, proc
from pooldesk.backend.broker import found, watchdog
from pooldesk.backend.broker.binary import find_redis_server
from pooldesk.backend.broker.errors import BrokerError
from pooldesk.backend.fsutil import file_lock, read_json, tail_lines, write_json_atomic

STATE_FILE = "broker.json"
READY_TIMEOUT = 15.0


@dataclass
class ManagedState:
    port: int
    password: str
    pid: int | None = None
    create_time: float | None = None
    binary: str | None = None
    started_at: float | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_free(port: int) -> bool:
    """As redis-server will bind it: SO_REUSEADDR, so our own TIME_WAIT sockets don't count."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class ManagedBroker:
    """Start, find and stop the managed redis-server of one ``$POOLDESK_HOME``."""

    def __init__(self, directory: Path | None = None) -> None:
        self.dir = directory or paths.broker_dir()

    # -- records -----------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.dir / STATE_FILE

    def state(self) -> ManagedState | None:
        data = read_json(self.state_path)
        if not isinstance(data, dict):
            return None
        try:
            return ManagedState(**data)
        except TypeError:
            return None

    def _save(self, state: ManagedState) -> None:
        write_json_atomic(self.state_path, asdict(state))

    # -- queries -----------------------------------------------------------------------------
    def running_state(self) -> ManagedState | None:
        """The recorded state if its redis-server is alive and answers with our password."""
        state = self.state()
        if state is None or not proc.alive(state.pid, state.create_time):
            return None
        return state if self._ping(state, timeout=2.0) else None

    def current(self) -> ManagedState | None:
        """The record, or — when it is lost or names a dead server while one runs over this
        directory — the running server found again (the record is rewritten)."""
        state = self.state()
        if state is not None and proc.alive(state.pid, state.create_time):
            return state
        return self.recover() or state

    def recover(self) -> ManagedState | None:
        """A server running over this data directory without a (valid) record: adopt it."""
        conf = found.read_conf(self.dir / "redis.conf")
        servers = found.servers_in(self.dir)
        if conf is None or not servers:
            return None
        server = servers[0]
        state = ManagedState(
            port=conf[0],
            password=conf[1],
            pid=server.pid,
            create_time=proc.create_time(server.pid),
            binary=None,
            started_at=server.create_time(),
        )
        if not self._ping(state, timeout=1.0):
            return None
        with contextlib.suppress(OSError):
            self._save(state)
            if not found.has_watchdog(self.dir):  # its starter died before starting one
                watchdog.spawn(self.dir, server.pid, state.create_time)
        return state

    def _previous(self) -> tuple[int, str] | None:
        """The port and password to keep: the record's, else the last ``redis.conf``'s."""
        state = self.state()
        if state is not None:
            return state.port, state.password
        return found.read_conf(self.dir / "redis.conf")

    @staticmethod
    def _ping(state: ManagedState, timeout: float) -> bool:
        client = redis.Redis(
            host="127.0.0.1",
            port=state.port,
            password=state.password,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, new_port: bool = False) -> ManagedState:
        """Start it unless it already runs; safe to call from several processes at once.

        The port is kept (see the module docstring); ``new_port``: take a free one on purpose
        (workers started before must be restarted to follow it)."""
        with file_lock(self.dir / ".lock"):
            running = self.running_state() or self.recover()
            if running:
                return running
            previous = self._previous()
            password = previous[1] if previous else secrets.token_hex(24)
            if previous and not new_port and not _port_free(previous[0]):
                holder = found.port_holder(previous[0])
                raise BrokerError(
                    f"the managed broker's port 127.0.0.1:{previous[0]} is taken by "
                    f"{holder or 'another program'}; Pooldesk keeps its broker on one port so "
                    "that running workers reconnect by themselves. Free the port and try "
                    "again, or move the broker with 'pooldesk broker start --new-port' (then "
                    "restart the workers started before: they keep the old address)"
                )
            port = previous[0] if previous and not new_port else _free_port()
            binary = find_redis_server()
            state = ManagedState(port=port, password=password, binary=str(binary))
            conf = self._write_conf(state)
            pidfile = self.dir / "redis.pid"
            with contextlib.suppress(FileNotFoundError):
                pidfile.unlink()
            launcher = subprocess.run(
                [str(binary), str(conf)],
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=30,
                start_new_session=True,
                check=False,
            )
            if launcher.returncode != 0:
                raise BrokerError(self._failure("redis-server refused to start", launcher.stdout))
            state.pid, state.create_time = self._wait_ready(state, pidfile)
            state.started_at = time.time()
            self._save(state)
            with contextlib.suppress(OSError):  # the broker runs without it, as before
                watchdog.spawn(self.dir, state.pid, state.create_time)
            return state

    def _write_conf(self, state: ManagedState) -> Path:
        """Config in a 0600 file, so the password never shows in ``ps``."""
        conf = self.dir / "redis.conf"
        lines = [
            "bind 127.0.0.1",
            f"port {state.port}",
            "protected-mode yes",
            f"requirepass {state.password}",
            "daemonize yes",
            f"pidfile {self.dir / 'redis.pid'}",
            f"logfile {self.dir / 'redis.log'}",
            f"dir {self.dir}",
            "appendonly yes",
            "appendfsync everysec",
            'save ""',
            "loglevel notice",
            # Celery events travel by pub/sub; Redis drops a subscriber whose unread backlog
            # passes 32 MB (measured: Flower was cut off at ~11,000 events/s). Give a busy
            # event monitor more room before it is disconnected.
            "client-output-buffer-limit pubsub 256mb 128mb 60",
        ]
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        os.chmod(conf, 0o600)
        return conf

    def _wait_ready(self, state: ManagedState, pidfile: Path) -> tuple[int, float | None]:
        deadline = time.monotonic() + READY_TIMEOUT
        pid: int | None = None
        while time.monotonic() < deadline:
            if pid is None and pidfile.exists():
                with contextlib.suppress(ValueError):
                    pid = int(pidfile.read_text().strip() or 0) or None
            if pid and self._ping(state, timeout=0.5):
                return pid, proc.create_time(pid)
            if pid and not proc.alive(pid):
                break
            time.sleep(0.05)
        if pid and proc.alive(pid):
            os.kill(pid, signal.SIGKILL)
        raise BrokerError(self._failure("managed redis-server did not become ready", b""))

    def _failure(self, what: str, output: bytes) -> str:
        detail = output.decode("utf-8", "replace").strip().splitlines()
        detail += tail_lines(self.dir / "redis.log", 3)
        reason = detail[-1].strip() if detail else "no output"
        return f"{what}: {reason}"

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop it (AOF is flushed by SHUTDOWN). Returns False if it was not running."""
        with file_lock(self.dir / ".lock"):
            state = self.current()
            if state is None or not proc.alive(state.pid, state.create_time):
                return False
            assert state.pid is not None
            client = redis.Redis(
                host="127.0.0.1",
                port=state.port,
                password=state.password,
                socket_timeout=2,
                retry=Retry(NoBackoff(), 0),  # the server closing on SHUTDOWN is success
            )
            with contextlib.suppress(redis.RedisError):
                client.shutdown()
            client.close()
            if not proc.wait_gone(state.pid, state.create_time, timeout):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(state.pid, signal.SIGKILL)
                proc.wait_gone(state.pid, state.create_time, 5)
            state.pid = None
            state.create_time = None
            state.started_at = None
            self._save(state)
            return True
