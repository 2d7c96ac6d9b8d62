"""A tiny supervisor between Pooldesk and one Celery worker.

Why it exists: workers outlive the window (and the CLI that started them), so nobody would be
left to see *how* a worker ended. The supervisor is the worker's parent for its whole life: it
records Celery's pid, copies its output into a rotated log, and writes the exit status when the
worker ends. It ignores the stop signals so that a warm stop (SIGTERM to Celery's main process)
reaches Celery alone; a final SIGKILL to the process group takes both.

Usage: ``python -m backend.workers.supervise NAME -- <celery args>``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from backend import proc
from backend.workers.logfile import RotatingWriter
from backend.workers.records import ExitInfo, PidInfo, RecordStore


def _ignore(signum: int, frame: object) -> None:
    """A handler (not SIG_IGN) so the child gets default dispositions back after exec."""


def run(name: str, celery_args: list[str]) -> int:
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, _ignore)
    store = RecordStore()
    log = RotatingWriter(store.log_path(name))
    log.write(f"--- pooldesk: starting worker {name} at {time.strftime('%F %T')} ---\n".encode())
    child = subprocess.Popen(
        [sys.executable, "-m", "backend.workers.boot", *celery_args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    store.write_pid(
        name, PidInfo(child.pid, proc.create_time(child.pid), supervisor_pid=os.getpid())
    )
    assert child.stdout is not None
    for line in iter(child.stdout.readline, b""):
        log.write(line)
    code = child.wait()
    store.write_exit(name, ExitInfo(returncode=code, ended_at=time.time(), celery_pid=child.pid))
    log.write(f"--- pooldesk: worker {name} ended ({code}) ---\n".encode())
    log.close()
    return 0


def main() -> None:
    args = sys.argv[1:]
    if len(args) < 2 or args[1] != "--":
        sys.stderr.write("usage: python -m backend.workers.supervise NAME -- CELERY_ARGS...\n")
        raise SystemExit(2)
    raise SystemExit(run(args[0], args[2:]))


if __name__ == "__main__":
    main()
