"""The task-history recorder against Flower, on one stream of task events.

Run: ``.venv/bin/python bench/task_history.py [--tasks 100000] [--publishers 3] [--rate N]``
(installs ``flower`` into the venv if missing). Everything lives in a temporary
``POOLDESK_HOME`` with its own managed broker.

The stream is the one of ``bench/events_vs_flower.py`` (its publishers: ``--publishers`` fake
workers replaying task-sent/received/started/succeeded lifecycles through Redis pub/sub as fast
as they can, or capped at ``--rate`` events/s). Pooldesk's recorder runs as it does for a user
(``ensure_recorder``: supervisor + recorder process, batched SQLite writes), but at nice 0 like
Flower (users' workers are niced below it; the bench's publishers are not). Flower 2.2 listens
to the same stream with ``--max_tasks`` = the task count (so it keeps them all, as the recorder
does).

Printed: tasks stored / published (a gap in the stored ids would show here), the recorder's
CPU seconds per 1,000 events (process tree, after - before), its RSS, the store's size on disk
(and per task), Flower's CPU and RSS for the same stream, and the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import events_vs_flower as stream  # the same Flower helpers
from _common import stop_process, tree_cpu, wait_for
from _event_publisher import TASK_NAME, start_publishers  # the same publishers


def _tree(pid: int) -> list[Any]:
    import psutil

    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _tree_rss(pid: int) -> int:
    total = 0
    for proc in _tree(pid):
        with contextlib.suppress(Exception):
            total += proc.memory_info().rss
    return total


def _mib(end: int, peak: int) -> str:
    return f"{end / 2**20:.0f} / {peak / 2**20:.0f}"


def _stored(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(
                conn.execute(
                    "SELECT count(*) FROM tasks WHERE name = ? AND state = 'SUCCESS'",
                    (TASK_NAME,),
                ).fetchone()[0]
            )
    except sqlite3.Error:
        return 0


def _size(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--publishers", type=int, default=3)
    parser.add_argument("--rate", type=float, default=0.0, help="total events/s cap (0: none)")
    parser.add_argument("--drain", type=float, default=120.0)
    args = parser.parse_args()

    import psutil

    tmp = Path(tempfile.mkdtemp(prefix="pooldesk-bench-history-"))
    os.environ["POOLDESK_HOME"] = str(tmp / "home")
    os.environ["POOLDESK_RECORDER_IDLE_S"] = "0"  # no worker runs here: never leave
    os.environ["POOLDESK_WORKER_NICE"] = "0"  # same priority as Flower
    for var in ("POOLDESK_BROKER_URL", "POOLDESK_RESULT_BACKEND", "CELERY_BROKER_URL"):
        os.environ.pop(var, None)
    venv_bin = Path(sys.executable).parent
    stream._ensure_flower(venv_bin)

    from pooldesk.backend.broker import ensure_broker
    from pooldesk.backend.broker.managed import ManagedBroker
    from pooldesk.backend.taskhistory import service
    from pooldesk.backend.taskhistory.query import TaskQuery

    flower: subprocess.Popen[bytes] | None = None
    key = ""
    publishers: list[Any] = []
    try:
        config = ensure_broker()
        url = str(config.broker_url)
        key = service.broker_key(url)
        info = service.ensure_recorder(config)
        assert info is not None and info.supervisor_pid
        log = service.directory() / f"{key}.log"
        wait_for(
            "the recorder",
            lambda: log.exists() and "recording task events" in log.read_text(errors="replace"),
            60,
        )
        port = stream._free_port()
        base = f"http://127.0.0.1:{port}"
        flower = subprocess.Popen(
            [str(venv_bin / "celery"), "--broker", url, "flower", "--address=127.0.0.1",
             f"--port={port}", f"--max_tasks={args.tasks}"],
            env=dict(os.environ, FLOWER_UNAUTHENTICATED_API="true"),
            cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        wait_for("flower", lambda: stream._flower_events(base) is not None, 60)
        time.sleep(2.0)
        db = Path(os.environ["POOLDESK_HOME"]) / "tasks.db"
        flower_proc = psutil.Process(flower.pid)
        cpu0 = {"recorder": tree_cpu(info.supervisor_pid), "flower": stream._cpu(flower_proc)}

        publishers, go, results = start_publishers(url, args.tasks, args.publishers, args.rate)
        time.sleep(2.0)
        t0 = time.monotonic()
        go.set()
        peak = {"recorder": 0, "flower": 0}
        last = {"recorder": (0, t0), "flower": (0, t0)}
        published = 0
        done = 0
        publish_s = 0.0
        while True:
            time.sleep(0.5)
            now = time.monotonic()
            peak["recorder"] = max(peak["recorder"], _tree_rss(info.supervisor_pid))
            peak["flower"] = max(peak["flower"], flower_proc.memory_info().rss)
            while not results.empty():
                _, sent, _, elapsed = results.get()
                published += sent
                publish_s = max(publish_s, elapsed)
                done += 1
            counts = {"recorder": _stored(db), "flower": (stream._flower_events(base) or 0) // 4}
            for name, value in counts.items():
                if value > last[name][0]:
                    last[name] = (value, now)
            if done < len(publishers):
                continue
            if all(c >= args.tasks for c in counts.values()):
                break
            if all(now - last[n][1] > 10 for n in last) or now - t0 > args.drain + 600:
                break
        cpu = {
            "recorder": tree_cpu(info.supervisor_pid) - cpu0["recorder"],
            "flower": stream._cpu(flower_proc) - cpu0["flower"],
        }
        rss = {"recorder": _tree_rss(info.supervisor_pid), "flower": flower_proc.memory_info().rss}
        events = args.tasks * 4
        stored, flower_tasks = last["recorder"][0], last["flower"][0]
        size = _size(db)
        gaps = TaskQuery(db).gaps()
        print(
            f"\n{args.tasks:,} tasks ({events:,} task events, {args.publishers} publishers, "
            f"rate {'unthrottled' if not args.rate else f'{args.rate:,.0f} ev/s'}): "
            f"published in {publish_s:.1f} s = {published / max(publish_s, 1e-9):,.0f} events/s"
        )
        rows = [
            ("tasks kept", f"{stored:,} ({100 * stored / args.tasks:.1f} %)",
             f"{flower_tasks:,} ({100 * flower_tasks / args.tasks:.1f} %)"),
            ("recorded until (s after start)", f"{last['recorder'][1] - t0:.1f}",
             f"{last['flower'][1] - t0:.1f}"),
            ("CPU s per 1,000 events", f"{1000 * cpu['recorder'] / events:.3f}",
             f"{1000 * cpu['flower'] / events:.3f}"),
            ("RSS at end / peak (MiB)", _mib(rss["recorder"], peak["recorder"]),
             _mib(rss["flower"], peak["flower"])),
            ("kept where", f"tasks.db {size / 2**20:.1f} MiB ({size / max(stored, 1):.0f} B/task)",
             "memory only"),
            ("gaps reported", str(len(gaps)), "-"),
        ]  # fmt: skip
        width = max(len(r[0]) for r in rows)
        print(f"{'':<{width}}  {'Pooldesk recorder':<34}  Flower")
        for name, ours, theirs in rows:
            print(f"{name:<{width}}  {ours:<34}  {theirs}")
        ratio = cpu["recorder"] / cpu["flower"] if cpu["flower"] else float("nan")
        print(
            f"CPU ratio recorder/Flower: {ratio:.2f}×; RSS ratio: "
            f"{rss['recorder'] / rss['flower']:.2f}×"
        )
        return 0 if stored == args.tasks else 1
    finally:
        for proc in publishers:
            if proc.is_alive():
                proc.terminate()
        stop_process(flower)
        if key:
            service.stop_recorder(key)
        ManagedBroker().stop(timeout=10)


if __name__ == "__main__":
    raise SystemExit(main())
