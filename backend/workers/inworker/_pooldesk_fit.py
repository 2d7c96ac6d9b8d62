"""Per-task measurement inside a Celery worker: what each task really does to its pool.

Stand-alone like ``_pooldesk_probe`` (standard library, Celery, gevent/greenlet when present;
never ``backend``): it runs in a user's interpreter. Installed by the probe through Celery's
global ``task_prerun``/``task_postrun`` signals, so the user's tasks are untouched, and active in
whatever process runs the tasks (prefork children included: signals survive the fork).

For every task run it measures, with the clock that belongs to the pool:

- **wall**: prerun → postrun (``perf_counter``);
- **CPU** of *that* task: ``thread_time`` deltas — the task's own thread under prefork, solo and
  threads; under gevent only while the task's greenlet runs (all greenlets share one thread);
  and its **CPU demand**: CPU plus the time it waited for a core (Linux ``schedstat``), so a
  CPU-bound task on a busy machine still reads as CPU-bound, not as "waiting";
- **loop hold** (gevent only): a ``greenlet.settrace`` hook sees every switch, so each stretch
  the task's greenlet ran without yielding is timed — total and longest. Python CPU work and a
  C call blocking on a socket (a database driver that gevent cannot patch) hold the loop alike;
  only a cooperative wait gives it back. CPU low + hold high is the blocking-driver signature,
  invisible to any CPU-based guess.

Runs are aggregated per (task name, queue) in the process, capped at ``MAX_KEYS`` pairs, and a
sender thread (a greenlet under gevent: ``threading`` is patched) publishes the cumulative totals
as one ``worker-fit`` event about once a second while they change, every 2 s otherwise:
the event stream grows with processes, never with tasks. Cumulative totals make a lost event
harmless. ``POOLDESK_FIT_PROBE=0`` turns it off (the overhead bench compares both).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from typing import Any

EVENT_TYPE = "worker-fit"
MAX_KEYS = 200
QUIET = 0.05  # a run whose wait for other tasks' holds is under 5 % of its wall is "quiet"
MAX_RECENT = 200  # runs per event for the timeline; more per second are sampled
ENV_SWITCH = "POOLDESK_FIT_PROBE"
# bench/probe_overhead.py runs workers under valgrind (~50× slower) and stretches the probe's
# timers by the same factor, so its per-second work weighs on a task as it does in real use.
TIME_SCALE_ENV = "POOLDESK_PROBE_TIME_SCALE"


def time_scale() -> float:
    try:
        scale = float(os.environ.get(TIME_SCALE_ENV, "1") or 1)
    except ValueError:
        return 1.0
    return scale if scale > 0 else 1.0


SEND_EVERY_S = 1.0 * time_scale()
RESEND_IDLE_S = 2.0 * time_scale()
_perf = time.perf_counter
_cpu = time.thread_time
_local = threading.local()


_pread = os.pread


def _sched() -> bytes:
    """This thread's Linux ``schedstat`` line as read (``run_ns wait_ns slices``), unparsed;
    ``b""`` elsewhere or if the file is missing. Its second field, the time the thread waited
    for a core, makes CPU *demand*: CPU time alone cannot tell a CPU-bound task on a busy
    machine (it gets a fraction of a core) from a call blocked in C (it wants none).

    Unparsed because parsing cost more than the read (bench/probe_overhead.py: ~4.6 k of the
    ~6.3 k instructions of a reading) and two readings of one stretch are most often the same
    bytes: the kernel updates the line at a scheduler tick or a context switch, and the wait
    only grows when the thread was preempted. :func:`_waited` parses only when they differ.
    """
    fd = getattr(_local, "fd", None)
    if fd is None:
        try:
            fd = _local.fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        except OSError:
            fd = _local.fd = -1
    if fd >= 0:
        try:
            return _pread(fd, 64, 0)
        except OSError:
            pass
    return b""


def _waited(before: bytes, after: bytes) -> float:
    """Seconds waited for a core between two :func:`_sched` readings (0 when unreadable)."""
    if before == after:
        return 0.0
    try:
        return max(0, int(after.split()[1]) - int(before.split()[1])) / 1e9
    except (ValueError, IndexError):
        return 0.0


class Stat:
    """Totals of one (task, queue) in one process."""

    __slots__ = (
        "cpu",
        "declared",
        "demand",
        "hold",
        "hold_max",
        "own",
        "quiet",
        "runs",
        "wall",
        "wall_max",
    )

    def __init__(self, declared: str | None) -> None:
        self.runs = 0
        self.wall = self.cpu = self.hold = self.hold_max = self.wall_max = 0.0
        self.demand = 0.0  # CPU used plus time waiting for a core
        self.declared = declared  # the task's own ``nature=`` option, a hint only
        # Wall less the time *other* tasks held the loop while this one was away: under gevent
        # a run also waits for the holder to yield before it resumes (after its result store,
        # say), so shares of the plain wall sink with contention. Equal to wall elsewhere.
        self.own = 0.0
        # Runs no other task's loop hold disturbed (gevent; every run elsewhere): [runs, wall,
        # demand, hold]. Their shares are exact; ``own`` is only an estimate under contention
        # (it also takes off holds that happened while the run still waited on its own).
        self.quiet = [0, 0.0, 0.0, 0.0]

    def as_dict(self, task: str, queue: str) -> dict[str, Any]:
        return {
            "task": task,
            "queue": queue,
            "runs": self.runs,
            "wall_s": round(self.wall, 6),
            "cpu_s": round(self.cpu, 6),
            "demand_s": round(self.demand, 6),
            "hold_s": round(self.hold, 6),
            "hold_max_s": round(self.hold_max, 6),
            "wall_max_s": round(self.wall_max, 6),
            "own_wall_s": round(self.own, 6),
            "quiet": [self.quiet[0], *(round(v, 6) for v in self.quiet[1:])],
            "declared": self.declared,
        }


class Run:
    """One task run in progress. ``since`` is set while its greenlet holds the loop."""

    __slots__ = (
        "away_mark",
        "cpu",
        "cpu_since",
        "demand",
        "hold",
        "hold_max",
        "hold_max_at",
        "key",
        "others",
        "sched_since",
        "since",
        "start",
        "task_id",
    )

    def __init__(self, key: tuple[str, str], now: float, task_id: str = "") -> None:
        self.key = key
        self.task_id = task_id
        self.start = now
        self.cpu = self.hold = self.hold_max = self.demand = 0.0
        self.hold_max_at = now
        self.others = 0.0  # loop hold by other tasks while this one was away
        self.away_mark = 0.0
        self.since: float | None = now
        self.cpu_since = _cpu()  # exact; schedstat's run time lags up to a scheduler tick
        self.sched_since = _sched()

    def close_stretch(self, now: float, cpu: float, sched: bytes) -> float:
        """End of a stretch (gevent: switched away) or of the run (other pools): its length.
        ``now``/``cpu``/``sched`` are read once by the caller (a switch that ends one task's
        stretch and opens another's shares them)."""
        since = self.since
        if since is None:
            return 0.0
        stretch = now - since
        self.hold += stretch
        if stretch > self.hold_max:
            self.hold_max = stretch
            self.hold_max_at = since
        used = cpu - self.cpu_since
        self.cpu += used
        self.demand += used + _waited(self.sched_since, sched)
        self.since = None
        return stretch


def pool_kind() -> str:
    """Which pool runs tasks in this process: gevent, prefork, threads or solo."""
    monkey = __import__("sys").modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("socket"):
        return "gevent"
    with contextlib.suppress(Exception):
        from billiard.process import current_process

        if current_process().name.startswith("ForkPoolWorker"):
            return "prefork"
    return "solo" if threading.current_thread() is threading.main_thread() else "threads"


class Meter:
    """The measurements of one process; signal handlers feed it, the sender reads it."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.pool = pool_kind()
        self.stats: dict[tuple[str, str], Stat] = {}
        self.dropped = 0  # runs of pairs beyond MAX_KEYS
        self.version = 0  # grows with every finished run: the sender knows when to send
        self.runs: dict[str, Run] = {}  # task id → run, for non-gevent pools
        self.tracked: dict[Any, Run] = {}  # greenlet → run, gevent only
        self.recent: deque[tuple[Any, ...]] = deque(maxlen=MAX_RECENT)  # finished, not yet sent
        self.epoch = time.time() - _perf()  # perf_counter → Unix time
        self.held_total = 0.0  # every tracked stretch so far, for ``Run.others``
        self.hostname: str | None = None
        self.app: Any = None
        self._lock = threading.Lock()
        self._previous_trace: Any = None
        self._getcurrent: Any = None  # gevent: greenlet.getcurrent, bound once
        self._fd = -1
        if self.pool == "gevent":
            import greenlet

            _sched()  # opens this thread's schedstat (all greenlets share the thread)
            self._fd = getattr(_local, "fd", -1)
            self._getcurrent = greenlet.getcurrent
            self._previous_trace = greenlet.settrace(self._trace)

    # -- gevent: every switch passes here; keep it short ---------------------------------------
    def _trace(self, event: str, args: Any) -> None:
        """One clock reading per switch that touches a measured task, shared by the stretch
        it ends and the one it opens; none for the others (hub ↔ consumer and the like)."""
        tracked = self.tracked
        if tracked and (event == "switch" or event == "throw"):
            try:  # an exception here would break the switch itself
                origin, target = args
                run = tracked.get(origin)
                after = tracked.get(target)
                if run is not None or after is not None:
                    # Inlined (one thread: the fd is the meter's): a function call per reading
                    # was a measurable share of a switch.
                    now, cpu = _perf(), _cpu()
                    sched = _pread(self._fd, 64, 0) if self._fd >= 0 else b""
                    if run is not None:
                        self.held_total += run.close_stretch(now, cpu, sched)
                        run.away_mark = self.held_total
                    if after is not None:
                        after.others += self.held_total - after.away_mark
                        after.since, after.cpu_since, after.sched_since = now, cpu, sched
            except Exception:  # pragma: no cover - measurement must never hurt the worker
                pass
        previous = self._previous_trace
        if previous is not None:
            previous(event, args)

    # -- task signals -------------------------------------------------------------------------
    def prerun(self, task_id: str, task: Any) -> None:
        request = getattr(task, "request", None)
        if self.hostname is None:
            self.hostname = getattr(request, "hostname", None)
            self.app = getattr(task, "app", None)
        info = getattr(request, "delivery_info", None) or {}
        queue = str(info.get("routing_key") or info.get("queue") or "(unknown)")
        key = (str(getattr(task, "name", "?")), queue)
        if key not in self.stats:
            declared = getattr(task, "nature", None)
            with self._lock:
                if len(self.stats) < MAX_KEYS:
                    self.stats[key] = Stat(declared if isinstance(declared, str) else None)
        run = Run(key, _perf(), task_id)
        if self._getcurrent is not None:
            self.tracked[self._getcurrent()] = run
        else:
            self.runs[task_id] = run

    def postrun(self, task_id: str) -> None:
        now = _perf()
        if self._getcurrent is not None:
            run = self.tracked.pop(self._getcurrent(), None)
        else:
            run = self.runs.pop(task_id, None)
        if run is None:
            return
        self.held_total += run.close_stretch(now, _cpu(), _sched())
        if self.pool != "gevent":  # the whole run held its thread: no loop to hold
            run.hold = run.hold_max = 0.0
        wall = now - run.start
        with self._lock:
            stat = self.stats.get(run.key)
            if stat is None:
                self.dropped += 1
                return
            stat.runs += 1
            stat.wall += wall
            stat.cpu += run.cpu
            stat.demand += run.demand
            stat.hold += run.hold
            stat.hold_max = max(stat.hold_max, run.hold_max)
            stat.wall_max = max(stat.wall_max, wall)
            stat.own += max(run.hold, wall - run.others)
            if run.others <= QUIET * wall:
                quiet = stat.quiet
                quiet[0] += 1
                quiet[1] += wall
                quiet[2] += run.demand
                quiet[3] += run.hold
            self.version += 1
            # For the timeline: when it ran, and where its longest hold of the loop was.
            self.recent.append(
                (run.task_id, run.key[1], run.start, wall, run.hold, run.hold_max, run.hold_max_at)
            )

    def payload(self) -> tuple[dict[str, Any], int]:
        """Cumulative totals, and the runs finished and not yet sent (for the timeline:
        ``[task id, queue, start (epoch s), wall, hold, longest hold, its offset]``); with
        how many runs it carries, for :meth:`sent` once the broker has it."""
        with self._lock:
            tasks = [stat.as_dict(task, queue) for (task, queue), stat in self.stats.items()]
            recent = [
                [tid, q, round(t + self.epoch, 4), round(w, 4), round(h, 4), round(m, 4),
                 round(at - t, 4)]
                for tid, q, t, w, h, m, at in self.recent
            ]  # fmt: skip
        body = {"pool": self.pool, "tasks": tasks, "dropped": self.dropped, "runs": recent}
        return body, len(recent)

    def sent(self, runs: int) -> None:
        """Forget the ``runs`` oldest runs: they reached the broker (a failed send keeps them)."""
        with self._lock:
            for _ in range(min(runs, len(self.recent))):
                self.recent.popleft()


_meter: Meter | None = None
_meter_lock = threading.Lock()
_pid = os.getpid()  # kept by the fork hook below: no getpid() call per task


def _forked() -> None:
    global _pid
    _pid = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)


def _current() -> Meter:
    """This process's meter: a prefork child makes its own (the parent's was forked away)."""
    global _meter
    meter = _meter
    if meter is not None and meter.pid == _pid:
        return meter
    created = False
    with _meter_lock:  # a real lock (made before gevent patches threading): never yield in it
        if _meter is None or _meter.pid != os.getpid():
            _meter, created = Meter(), True
        meter = _meter
    if created:  # outside the lock: under gevent, Thread.start() yields to the hub
        threading.Thread(target=_send_loop, args=(meter,), daemon=True).start()
    return meter


def _send_loop(meter: Meter) -> None:
    dispatcher: Any = None
    sent_version, sent_at = -1, 0.0
    while True:
        time.sleep(SEND_EVERY_S)
        if meter.hostname is None or meter.app is None or meter.pid != os.getpid():
            continue
        changed = meter.version != sent_version
        if not changed and time.monotonic() - sent_at < RESEND_IDLE_S:
            continue
        try:
            if dispatcher is None:
                dispatcher = meter.app.events.Dispatcher(
                    meter.app.connection_for_write(),
                    hostname=meter.hostname,
                    enabled=True,
                    buffer_while_offline=False,
                )
            version = meter.version
            body, runs = meter.payload()
            dispatcher.send(EVENT_TYPE, **body)
            meter.sent(runs)
            sent_version, sent_at = version, time.monotonic()
        except Exception:  # the broker may be away: a new connection next time
            if dispatcher is not None:
                with contextlib.suppress(Exception):
                    dispatcher.connection.release()
            dispatcher = None


def on_prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    # try/except, not contextlib.suppress: a context manager object per call costs per task.
    try:  # noqa: SIM105 - a measurement must never fail a task
        _current().prerun(str(task_id), task)
    except Exception:  # pragma: no cover
        pass


def on_postrun(task_id: str | None = None, **_: Any) -> None:
    try:  # noqa: SIM105
        _current().postrun(str(task_id))
    except Exception:  # pragma: no cover
        pass


def install() -> bool:
    if os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "false", "off", "no"):
        return False
    from celery.signals import task_postrun, task_prerun

    task_prerun.connect(on_prerun, weak=False)
    task_postrun.connect(on_postrun, weak=False)
    return True
