"""A tiny supervisor between Pooldesk and one Celery worker.

Why it exists: workers outlive the window (and the CLI that started them), so nobody would be
left to see *how* a worker ended, or to start it again. The supervisor is the worker's parent
for its whole life: it records Celery's pid, copies its output into a rotated log, writes the
exit status when the worker ends, and restarts a worker that crashed (exited without being
asked) after a capped back-off — until it has crashed ``--restarts`` times within ``--window``
seconds: then it gives up (a crash loop; the advisor says so) instead of flapping forever.

It ignores the stop signals so that a warm stop (SIGTERM to Celery's main process) reaches
Celery alone; a final SIGKILL to the process group takes both.

Usage: ``python -m pooldesk.backend.workers.supervise NAME [--restarts N] [--window S] [--project P]
-- <celery args>``. With ``--project`` the worker runs the project's interpreter in its workdir
and environment (``pooldesk.backend.projects.runenv``); the supervisor itself stays Pooldesk's
process.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time

from pooldesk.backend import proc
from pooldesk.backend.taskhistory import keeper
from pooldesk.backend.workers import inworker
from pooldesk.backend.workers.logfile import RotatingWriter
from pooldesk.backend.workers.priority import from_env, lower_priority
from pooldesk.backend.workers.records import ExitInfo, PidInfo, RecordStore

BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 30.0


def _ignore(signum: int, frame: object) -> None:
    """A handler (not SIG_IGN) so the child gets default dispositions back after exec."""


def _probe_env() -> dict[str, str]:
    """Our environment with the stand-alone in-worker modules first on ``PYTHONPATH``."""
    env = dict(os.environ)
    paths = [str(inworker.path()), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def _command(
    celery_args: list[str], project: str | None
) -> tuple[list[str], dict[str, str], str | None]:
    """argv, environment and working directory of one run of the worker.

    The demo (no project): Pooldesk's own interpreter. A project: its interpreter in its workdir,
    with its env file and pairs (re-read at every start, so a fixed env file heals a crash loop).
    """
    if not project:
        return [sys.executable, "-m", inworker.PROBE_MODULE, *celery_args], _probe_env(), None
    from pooldesk.backend.projects.runenv import project_env
    from pooldesk.backend.projects.store import ProjectStore

    spec = ProjectStore().get(project)
    env = project_env(spec, os.environ, keep_broker=spec.managed_broker)
    return [spec.python, "-m", inworker.PROBE_MODULE, *celery_args], env, spec.workdir


def _secrets(project: str | None) -> list[bytes]:
    if not project:
        return []
    from pooldesk.backend.projects.runenv import secrets
    from pooldesk.backend.projects.store import ProjectStore

    saved = ProjectStore().load(project)
    return [v.encode() for v in secrets(saved)] if saved else []


def _stop_requested(store: RecordStore, name: str) -> bool:
    record = store.load(name)
    return record is None or record.stop_requested_at is not None


def _run_once(
    store: RecordStore,
    name: str,
    celery_args: list[str],
    log: RotatingWriter,
    crashes: int,
    project: str | None = None,
) -> tuple[int, int]:
    log.write(f"--- pooldesk: starting worker {name} at {time.strftime('%F %T')} ---\n".encode())
    try:
        argv, env, cwd = _command(celery_args, project)
        child = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
    except (OSError, ValueError) as exc:  # project gone, env file broken, interpreter gone
        log.write(f"--- pooldesk: cannot start worker {name}: {exc} ---\n".encode())
        return 127, 0
    store.write_pid(
        name,
        PidInfo(
            child.pid,
            proc.create_time(child.pid),
            supervisor_pid=os.getpid(),
            started_at=time.time(),
            crashes=crashes,
        ),
    )
    with contextlib.suppress(FileNotFoundError):
        (store.dir / f"{name}.exit.json").unlink()  # the previous run's, once the new pid is in
    assert child.stdout is not None
    hidden = _secrets(project)
    for line in iter(child.stdout.readline, b""):
        for secret in hidden:  # a project's env values never reach the log, even if printed
            line = line.replace(secret, b"****")
        log.write(line)
    return child.wait(), child.pid


def run(
    name: str,
    celery_args: list[str],
    restarts: int = 3,
    window: float = 600.0,
    project: str | None = None,
) -> int:
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, _ignore)
    store = RecordStore()
    keeper.keep(project)  # task history: this broker's recorder runs while this worker does
    log = RotatingWriter(store.log_path(name))
    crashes: list[float] = []
    try:
        while True:
            code, pid = _run_once(store, name, celery_args, log, len(crashes), project)
            now = time.time()
            asked = _stop_requested(store, name)
            crashed = not asked and code != 0
            if crashed:
                crashes = [t for t in crashes if t > now - window] + [now]
            again = crashed and len(crashes) <= restarts
            gave_up = crashed and not again
            store.write_exit(
                name,
                ExitInfo(
                    returncode=code,
                    ended_at=now,
                    celery_pid=pid,
                    crashes=len(crashes),
                    restarting=again,
                    gave_up=gave_up,
                ),
            )
            if not again:
                note = f"gave up after {len(crashes)} crashes" if gave_up else f"ended ({code})"
                log.write(f"--- pooldesk: worker {name} {note} ---\n".encode())
                return 0
            delay = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (len(crashes) - 1))
            log.write(
                f"--- pooldesk: worker {name} crashed ({code}); restart "
                f"{len(crashes)} of {restarts} in {delay:.0f} s ---\n".encode()
            )
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline:  # a stop during the back-off ends it here
                if _stop_requested(store, name):
                    return 0
                time.sleep(0.2)
    finally:
        log.close()


def main() -> None:
    argv = sys.argv[1:]
    if "--" not in argv:
        sys.stderr.write(
            "usage: python -m pooldesk.backend.workers.supervise NAME [--restarts N] "
            "[--window S] -- CELERY_ARGS...\n"
        )
        raise SystemExit(2)
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="supervise")
    parser.add_argument("name")
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--window", type=float, default=600.0)
    parser.add_argument("--project", default=None)
    args = parser.parse_args(argv[:split])
    lower_priority(from_env())  # before the worker starts: it and its pool inherit it
    raise SystemExit(run(args.name, argv[split + 1 :], args.restarts, args.window, args.project))


if __name__ == "__main__":
    main()
