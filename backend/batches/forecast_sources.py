"""Where a launch forecast gets a task's measurements, within a few seconds and without the window.

- **The in-worker probe's ``worker-fit`` events**, heard live on the queue's broker. Every process
  that ran a task resends its *cumulative* per-task totals every second while they change and
  every 2 s when idle (``_pooldesk_fit``), so a listen of about 2.2 s hears every process that
  ever ran the task, with wall, CPU, CPU demand and (gevent) loop hold — nothing needs to be
  running at the time and nothing is stored. The fold is ``telemetry.fitstate.FitFold``, the
  same the window and ``pooldesk fit`` use.
- **The task history** (``tasks.db``, written by the recorder from task events): run times when
  no probe answers (a worker Pooldesk did not start, or a probe turned off), and the arguments
  of recent runs, from which the items each measured call carried are counted (a list as first
  argument: its length; anything else: one item), so a chunked launch scales the measured cost.
"""

from __future__ import annotations

import ast
import contextlib
import os
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pooldesk.backend.broker import BrokerConfig
from pooldesk.backend.panelapp import panel_app
from pooldesk.backend.taskhistory import store as history_store
from pooldesk.backend.telemetry.fitstate import FIT_EVENT, FitFold, WorkerFit
from pooldesk.backend.telemetry.receiver import PollingReceiver

LISTEN_S = 2.2  # the probe's idle resend is 2 s: every process that ran the task is heard
HISTORY_RUNS = 200  # recent successful runs read from the task history


class SourceError(RuntimeError):
    """The broker did not answer: nothing was heard."""


def listen_fit(config: BrokerConfig, seconds: float = LISTEN_S) -> dict[str, WorkerFit]:
    """Every worker's folded ``worker-fit`` totals heard within ``seconds`` on this broker."""
    if not config.broker_url:
        raise SourceError("the broker is not running")
    fold = FitFold()
    deadline = time.monotonic() + max(0.0, seconds)

    def on_fit(event: Mapping[str, Any]) -> None:
        host = event.get("hostname")
        if isinstance(host, str):
            fold.apply(host, event, time.time())

    app = panel_app("watch", config.broker_url, config.result_backend)
    try:
        with app.connection_for_read() as conn:
            receiver: PollingReceiver

            def check() -> None:
                if time.monotonic() >= deadline:
                    receiver.should_stop = True

            receiver = PollingReceiver(
                conn,
                on_connected=lambda: None,
                on_iteration=check,
                handlers={FIT_EVENT: on_fit},
                app=app,
            )
            receiver.connect_max_retries = 1
            receiver.capture(limit=None, timeout=None, wakeup=False)
    except Exception as exc:  # connecting or consuming: the broker did not answer
        from pooldesk.backend.broker.status import describe_unreachable

        raise SourceError(describe_unreachable(config, exc)) from exc
    finally:
        with contextlib.suppress(Exception):
            app.close()
    return dict(fold.views())


def autogroup() -> bool:
    """Linux's scheduler autogroup: CPU is shared fairly between *sessions*, not processes
    (a worker Pooldesk starts is a session of its own)."""
    try:
        with open("/proc/sys/kernel/sched_autogroup_enabled", encoding="ascii") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def cpu_times() -> tuple[float, float] | None:
    """(idle, total) jiffies of the whole machine (``/proc/stat``); None where unknown."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            values = [float(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (values[3] + (values[4] if len(values) > 4 else 0.0), sum(values[:8]))


def weight(nice: int) -> float:
    """CFS weight of a nice value, in nice-0 units (each step ≈ 1.25×: nice 10 ≈ 0.107)."""
    return float(1.25 ** -max(-20, min(19, nice)))


def runnable_others(grouped: bool = False) -> tuple[int, float] | None:
    """Others runnable on this machine right now, and their CFS weight in nice-0 units:
    processes, or with ``grouped`` (autogroup) the sessions other than ours with a runnable
    process, each weighing its group's nice value; None where unknown (not Linux)."""
    try:
        own = os.getsid(0)
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return None
    me = os.getpid()
    seen: dict[int, float] = {}  # session (grouped) or pid → weight
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            if fields[0] != b"R" or int(pid) == me:
                continue
            sid, nice = int(fields[3]), int(fields[16])
            if grouped:
                if sid == own or sid in seen:
                    continue
                with open(f"/proc/{pid}/autogroup", encoding="ascii") as f:
                    nice = int(f.read().split()[-1])  # "/autogroup-57 nice 0"
                seen[sid] = weight(nice)
            else:
                seen[int(pid)] = weight(nice)
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile, or unreadable
    return len(seen), sum(seen.values())


@dataclass(frozen=True)
class History:
    runs: int
    mean_runtime_s: float | None
    items_per_call: float | None  # mean items the recorded calls carried, when arguments show


def read_history(task: str, queue: str | None = None) -> History:
    """Recent successful runs of ``task`` from the task history (empty when there is none)."""
    path = history_store.default_path()
    if not path.exists():
        return History(0, None, None)
    try:
        # read-only and a short busy wait: a forecast answers within its timeout
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.5)
    except sqlite3.Error:
        return History(0, None, None)
    try:
        rows = conn.execute(
            "SELECT runtime, args, queue FROM tasks WHERE name=? AND state='SUCCESS' "
            "ORDER BY first_ts DESC LIMIT ?",
            (task, HISTORY_RUNS),
        ).fetchall()
    except sqlite3.Error:
        return History(0, None, None)
    finally:
        conn.close()
    if queue and any(r[2] == queue for r in rows):
        rows = [r for r in rows if r[2] == queue]
    runtimes = [float(r[0]) for r in rows if isinstance(r[0], int | float) and r[0] > 0]
    counts = [n for n in (items_in(r[1]) for r in rows) if n is not None]
    return History(
        len(runtimes),
        sum(runtimes) / len(runtimes) if runtimes else None,
        sum(counts) / len(counts) if counts else None,
    )


def items_in(args: Any) -> int | None:
    """Items one call carried, from its recorded ``args`` repr: a list first argument counts its
    elements (a chunk), any other first argument is one item; unreadable (cut, masked): None."""
    if not isinstance(args, str) or not args.strip():
        return None
    try:
        value = ast.literal_eval(args)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if not isinstance(value, tuple | list) or not value:
        return None
    first = value[0]
    return max(1, len(first)) if isinstance(first, list | tuple) else 1
