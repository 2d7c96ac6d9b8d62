"""The recorder's supervisor: restarts a recorder that died, as workers' supervisors do.

It runs the recorder as its child, records the child's pid (``KEY.pid.json``), copies its output
into ``KEY.log`` (the same rotating writer as worker logs, with the broker password masked) and
starts it again after a capped back-off when it ends without being asked — a killed recorder is
back within a second or two, and the gap it left is recorded by the new one. A recorder that
leaves by itself (no worker, no window: exit code 0) ends the supervisor too. SIGTERM stops
both: the recorder flushes what it holds first.

One per broker: it holds ``KEY.supervisor.lock`` for its life, and a second one started while
the first runs (a record lost, two starters at once) leaves at once. It ends, too, when its
data directory is deleted: nothing Pooldesk starts outlives its data directory.

Usage: ``python -m pooldesk.backend.taskhistory.supervise KEY`` (broker URL in the environment).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from urllib.parse import urlsplit

from pooldesk.backend import paths, proc
from pooldesk.backend.fsutil import write_json_atomic
from pooldesk.backend.redact import mask_text, mask_url
from pooldesk.backend.taskhistory import service
from pooldesk.backend.workers.logfile import RotatingWriter
from pooldesk.backend.workers.priority import from_env, lower_priority

BACKOFF_BASE_S, BACKOFF_CAP_S = 0.5, 30.0
SUPERVISOR_ENV = "POOLDESK_RECORDER_SUPERVISOR"  # the recorder leaves when this pid is gone
CRASH_WINDOW_S = 600.0


def _secrets() -> list[str]:
    out = []
    for var in ("POOLDESK_BROKER_URL", "POOLDESK_RESULT_BACKEND"):
        with_pw = urlsplit(os.environ.get(var, "")).password
        if with_pw:
            out.append(with_pw)
    return out


def run(key: str) -> int:
    stop = {"asked": False}
    child: subprocess.Popen[bytes] | None = None

    def on_term(signum: int, frame: object) -> None:
        stop["asked"] = True
        if child is not None and child.poll() is None:
            child.terminate()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    home = paths.root_path()
    if not home.is_dir():  # deleted before we ran: never recreate it
        return 0
    lock = service.hold(service.lock_path(key, "supervisor"))
    if lock is None:
        return 0  # another supervisor runs for this broker: it is the one
    # who holds it, inside the lock file: a lost KEY.json is found again from here
    me = {
        "key": key,
        "broker": mask_url(os.environ.get("POOLDESK_BROKER_URL")),
        "supervisor_pid": os.getpid(),
        "supervisor_create_time": proc.create_time(os.getpid()),
        "started_at": time.time(),
    }
    os.ftruncate(lock, 0)
    os.write(lock, json.dumps(me).encode())
    folder = service.directory()
    secrets = _secrets()
    log = RotatingWriter(folder / f"{key}.log")
    crashes: list[float] = []
    try:
        while not stop["asked"] and home.is_dir():
            log.write(
                f"--- pooldesk: recorder {key} starting at {time.strftime('%F %T')} ---\n".encode()
            )
            child = subprocess.Popen(
                [sys.executable, "-m", "pooldesk.backend.taskhistory.recorder", key],
                env={**os.environ, SUPERVISOR_ENV: str(os.getpid())},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            write_json_atomic(
                folder / f"{key}.pid.json",
                {
                    "recorder_pid": child.pid,
                    "create_time": proc.create_time(child.pid),
                    "started_at": time.time(),
                    "restarts": len(crashes),
                },
            )
            assert child.stdout is not None
            for line in iter(child.stdout.readline, b""):
                log.write(mask_text(line.decode("utf-8", "replace"), secrets).encode())
            code = child.wait()
            if stop["asked"] or code == 0:
                log.write(f"--- pooldesk: recorder {key} ended ({code}) ---\n".encode())
                return 0
            now = time.time()
            crashes = [t for t in crashes if t > now - CRASH_WINDOW_S] + [now]
            delay = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (len(crashes) - 1))
            log.write(
                f"--- pooldesk: recorder {key} died ({code}); again in {delay:.1f} s ---\n".encode()
            )
            deadline = time.monotonic() + delay
            while not stop["asked"] and time.monotonic() < deadline:
                time.sleep(0.1)
        if not home.is_dir():
            log.write(f"--- pooldesk: recorder {key}: data directory gone, ending ---\n".encode())
        return 0
    finally:
        log.close()


def main() -> None:
    if len(sys.argv) != 2:
        sys.stderr.write("usage: python -m pooldesk.backend.taskhistory.supervise KEY\n")
        raise SystemExit(2)
    lower_priority(from_env())
    raise SystemExit(run(sys.argv[1]))


if __name__ == "__main__":
    main()
