"""A tiny supervisor between Pooldesk and one Celery worker.

Why it exists: workers outlive the window (and the CLI that started them), so nobody would be
left to see *how* a worker ended, or to start it again. The supervisor is the worker's parent
for its whole life: it records Celery's pid, copies its output into a rotated log, writes the
exit status when the worker ends, and restarts a worker that crashed (exited without being
asked) after a capped back-off — until it has crashed ``--restarts`` times within ``--window``
seconds: then it gives up (a crash loop; the advisor says so) instead of flapping forever.

It ignores the stop signals so that a warm stop (SIGTERM to Celery's main process) reaches
Celery alone; a final SIGKILL to the process group takes both.

Two exits are not crashes of the worker's own making, and are handled apart:

* A supervisor SIGKILLed leaves Celery running blind (its output pipe has no reader, nobody will
  see how it ends). Whoever lists workers next (``WorkerManager.adopt_orphans``) starts a new
  supervisor with ``--adopt PID``: it retires the orphan (:func:`retire_orphan`, warm stop,
  capped) and then runs the worker afresh, log and restarts included.
* A broker-side crash inside kombu while reconnecting (:func:`broker_side_crash`) is restarted
  without counting against the crash-loop limit, and named in the log.

Usage: ``python -m pooldesk.backend.workers.supervise NAME [--restarts N] [--window S]
[--project P] [--adopt PID] -- <celery args>``. With ``--project`` the worker runs the project's
interpreter in its workdir and environment (``pooldesk.backend.projects.runenv``); the
supervisor itself stays Pooldesk's process.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import deque

from pooldesk.backend import proc
from pooldesk.backend.taskhistory import keeper
from pooldesk.backend.workers import inworker
from pooldesk.backend.workers.logfile import RotatingWriter
from pooldesk.backend.workers.priority import from_env, lower_priority
from pooldesk.backend.workers.records import ExitInfo, PidInfo, RecordStore

BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 30.0
TAIL_LINES = 80  # of each run's output, kept to tell a broker-side crash from the worker's own
BROKER_CRASHES_FREE = 10  # broker-side crashes not counted, per window; past that they count
ORPHAN_WARM_S = 60.0  # an orphan retired: warm stop, then cold, then SIGKILL to its group
ORPHAN_COLD_S = 10.0


def broker_side_crash(lines: list[str]) -> str | None:
    """The name of a known broker-side crash in a run's last output lines, or None.

    kombu's Redis transport, on losing the broker (a managed redis-server SIGKILLed: about 1 in
    8 kills here), closes the channel; ``QoS.restore_unacked`` (kombu/transport/redis.py) then
    puts the delivered-but-unacked messages back with ``channel.conn_or_acquire()``, which,
    with the channel's pool already dropped, builds a new pool from ``_connparams()`` →
    ``self.connection.client.hostname`` — and the transport's ``client`` was already released
    (None): ``AttributeError: 'NoneType' object has no attribute 'hostname'`` escapes Celery's
    consumer as an unrecoverable error and the worker exits 1. Nothing is wrong with the
    worker or its tasks (the unacked messages stay in Redis's ``unacked`` hash, restored by the
    next worker), so counting it as a crash would spend the crash-loop budget on the broker's
    restart (kombu issue #582 shows the same path on channel close).
    """
    text = "\n".join(lines)
    if "restore_unacked" in text and "'NoneType' object has no attribute 'hostname'" in text:
        return (
            "a broker-side crash inside kombu while reconnecting (QoS.restore_unacked after the "
            "broker went away: 'NoneType' object has no attribute 'hostname')"
        )
    return None


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
    tail: deque[str] | None = None,
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
        if tail is not None:
            tail.append(line.decode("utf-8", "replace"))
    return child.wait(), child.pid


def retire_orphan(
    store: RecordStore, name: str, pid: int, log: RotatingWriter, sleep: float = 0.2
) -> None:
    """Take over a Celery whose supervisor was killed, and stop it (warm, then cold, then kill).

    Its pid goes into ``NAME.pid.json`` under this supervisor (so the list keeps it online and
    a ``worker stop`` during the retirement signals it as usual); the new run starts once it is
    gone, unless a stop was asked meanwhile.
    """
    created = proc.create_time(pid)
    old = store.pid_info(name)
    store.write_pid(
        name,
        PidInfo(
            pid,
            created,
            supervisor_pid=os.getpid(),
            started_at=old.started_at if old else None,
            crashes=old.crashes if old else 0,
        ),
    )
    log.write(
        f"--- pooldesk: the supervisor of worker {name} was killed; Celery (pid {pid}) ran on "
        f"unsupervised and its output was lost. Restarting it under a new supervisor "
        f"({time.strftime('%F %T')}) ---\n".encode()
    )
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGTERM)
    for grace, then in ((ORPHAN_WARM_S, signal.SIGQUIT), (ORPHAN_COLD_S, signal.SIGKILL)):
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and proc.alive(pid, created):
            time.sleep(sleep)
        if not proc.alive(pid, created):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if then == signal.SIGKILL:
                os.killpg(os.getpgid(pid), signal.SIGKILL)  # its pool children too
            else:
                os.kill(pid, then)
    proc.wait_gone(pid, created, 5)


def run(
    name: str,
    celery_args: list[str],
    restarts: int = 3,
    window: float = 600.0,
    project: str | None = None,
    adopt: int | None = None,
) -> int:
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, _ignore)
    store = RecordStore()
    keeper.keep(project)  # task history: this broker's recorder runs while this worker does
    log = RotatingWriter(store.log_path(name))
    crashes: list[float] = []
    free: list[float] = []  # broker-side crashes not counted, inside the window
    try:
        if adopt:
            retire_orphan(store, name, adopt, log)
            if _stop_requested(store, name):
                log.write(f"--- pooldesk: worker {name} stopped while retired ---\n".encode())
                return 0
        while True:
            tail: deque[str] = deque(maxlen=TAIL_LINES)
            code, pid = _run_once(store, name, celery_args, log, len(crashes), project, tail)
            now = time.time()
            asked = _stop_requested(store, name)
            crashed = not asked and code != 0
            broker_side = broker_side_crash(list(tail)) if crashed else None
            free = [t for t in free if t > now - window]
            if broker_side and len(free) < BROKER_CRASHES_FREE:
                free.append(now)
                log.write(
                    f"--- pooldesk: worker {name} exited ({code}) in {broker_side}; restarting "
                    f"it in {BACKOFF_BASE_S:.0f} s, not counted against the crash-loop limit "
                    f"({len(crashes)} of {restarts} used) ---\n".encode()
                )
                store.write_exit(
                    name,
                    ExitInfo(code, now, pid, crashes=len(crashes), restarting=True),
                )
                if _backoff(store, name, BACKOFF_BASE_S):
                    return 0
                continue
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
            if _backoff(store, name, delay):
                return 0
    finally:
        log.close()


def _backoff(store: RecordStore, name: str, delay: float) -> bool:
    """Wait ``delay`` before a restart; True if a stop was asked meanwhile (then don't)."""
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        if _stop_requested(store, name):
            return True
        time.sleep(0.2)
    return False


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
    parser.add_argument("--adopt", type=int, default=None)
    args = parser.parse_args(argv[:split])
    lower_priority(from_env())  # before the worker starts: it and its pool inherit it
    raise SystemExit(
        run(args.name, argv[split + 1 :], args.restarts, args.window, args.project, args.adopt)
    )


if __name__ == "__main__":
    main()
