"""A user's own Celery project for the tests: its own virtualenv (outside Pooldesk's), its own
package (``ledgerq``, not ``backend``), a queue Pooldesk never heard of, and its own Redis.

The virtualenv is built once (``python -m venv`` + ``pip install`` of :data:`PACKAGES`;
pip's cache makes it quick) and kept in pytest's cache for the next sessions — no
``--system-site-packages``: it must not see Pooldesk.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

QUEUE = "ledger-posting"
# sqlalchemy: the project batches' database result backend (db+sqlite:///…) runs in the project
PACKAGES = ("celery[redis]", "gevent", "sqlalchemy")
PACKAGE = "ledgerq"
APP = "ledgerq.celery:app"
SECRET_VALUE = "envfile-value-" + secrets.token_hex(6)  # must never appear in any output

CELERY_PY = """
import os
from celery import Celery

app = Celery("ledgerq", broker=os.environ["LEDGERQ_BROKER"], backend=os.environ["LEDGERQ_BROKER"],
             include=["ledgerq.tasks"])
app.conf.update(task_serializer="json", accept_content=["json"], result_serializer="json",
                task_routes={"ledgerq.tasks.*": {"queue": "ledger-posting"}},
                broker_connection_retry_on_startup=True)
"""
TASKS_PY = """
import os
import sys
import time

from ledgerq.celery import app

# A careless app that prints a secret from its env file: Pooldesk's log must not keep it.
print("ledgerq tasks loaded; secret is", os.environ.get("LEDGERQ_SECRET"), flush=True)


@app.task
def post(x, y):
    return x + y


@app.task
def whoami():
    return {
        "executable": sys.executable,
        "cwd": os.getcwd(),
        "secret_seen": bool(os.environ.get("LEDGERQ_SECRET")),
        "pooldesk_importable": _importable("pooldesk.backend.celery_app"),
    }


@app.task
def spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return seconds


def _importable(name):
    import importlib.util
    try:
        return importlib.util.find_spec(name) is not None
    except Exception:
        return False
"""


def build_venv(root: Path) -> Path:
    """The sample project's own interpreter (a fresh virtualenv from the base Python)."""
    base = Path(sys.base_prefix) / "bin" / "python3"
    venv = root / "venv"
    subprocess.run([str(base), "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            *PACKAGES,
        ],
        check=True,
        timeout=600,
    )
    return python


def write_project(workdir: Path) -> None:
    pkg = workdir / PACKAGE
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "celery.py").write_text(CELERY_PY)
    (pkg / "tasks.py").write_text(TASKS_PY)
    (workdir / "broken").mkdir(exist_ok=True)
    (workdir / "broken" / "__init__.py").write_text("")
    (workdir / "broken" / "celery.py").write_text("import ledgerq_missing_dependency\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Redis:
    port: int
    password: str
    process: subprocess.Popen[bytes]

    def url(self, db: int) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/{db}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_redis(directory: Path) -> Redis:
    """The project's own Redis (as a user's would be: not Pooldesk's, not the machine's :6379)."""
    from pooldesk.backend.broker.binary import find_redis_server

    port, password = free_port(), secrets.token_hex(12)
    conf = directory / "redis.conf"
    conf.write_text(
        f'port {port}\nbind 127.0.0.1\nrequirepass {password}\nsave ""\nappendonly no\n'
        f"dir {directory}\n"
    )
    os.chmod(conf, 0o600)
    process = subprocess.Popen(
        [str(find_redis_server()), str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return Redis(port, password, process)
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("the sample project's redis-server did not start")


def client(python: Path, workdir: Path, env: dict[str, str], code: str) -> str:
    """Run the sample project's own client code in its own interpreter; its last output line."""
    done = subprocess.run(
        [str(python), "-c", code],
        cwd=workdir,
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return done.stdout.decode().strip().splitlines()[-1]  # its answer: the last line


# -- fixtures (session-wide: conftest.py imports them) ----------------------------------------
@pytest.fixture(scope="session")
def sample_python(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once and kept in pytest's cache (``.pytest_cache``) for a week, per base Python:
    ``make test`` runs the tiers in two sessions and both tests/integration and tests/desktop
    use it, so a second build would cost its pip install every time. A build that did not
    finish (no ``built`` marker) is built again; a lock keeps two sessions from building it
    at once."""
    cache = getattr(request.config, "cache", None)
    if cache is None:  # -p no:cacheprovider: a fresh one for this session
        return build_venv(tmp_path_factory.mktemp("sample-venv"))
    key = hashlib.sha256(f"{sys.base_prefix} {sys.version} {PACKAGES}".encode()).hexdigest()[:12]
    root = Path(cache.mkdir(f"sample-venv-{key}"))
    marker, python = root / "built", root / "venv" / "bin" / "python"
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        fresh = marker.exists() and time.time() - marker.stat().st_mtime < 7 * 86_400
        if not (fresh and python.exists()):
            marker.unlink(missing_ok=True)
            shutil.rmtree(root / "venv", ignore_errors=True)
            build_venv(root)
            marker.write_text("built\n")
    return python


@pytest.fixture(scope="session")
def sample_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    redis = start_redis(tmp_path_factory.mktemp("sample-redis"))
    yield redis
    redis.stop()


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory, sample_redis: Redis) -> Path:
    workdir = tmp_path_factory.mktemp("ledger-project")
    write_project(workdir)
    (workdir / ".env").write_text(
        "# the project's settings\n"
        f"export LEDGERQ_BROKER={sample_redis.url(5)}\n"
        f'LEDGERQ_SECRET="{SECRET_VALUE}"\n'
    )
    return workdir
