"""What the in-worker probe costs, in instructions: noop tasks with the probe on and off.

Run: ``.venv/bin/python bench/probe_overhead.py [--tasks 100] [--idle 10] [--rounds 1]``. Wall-clock
side-by-side runs on a shared 2-core VM spread ±15 %, far more than the 3 % goal, and
``perf stat -e instructions`` is not supported in this VM; so each worker runs under
``valgrind --tool=callgrind --instr-atstart=no`` and the instructions are counted only while it
works: after its warm-up (100 tasks) ``callgrind_control -i on`` and ``-z`` start the count in
every process of the worker (prefork children included: forks stay under valgrind), ``--tasks``
noop tasks run, and ``callgrind_control -d`` dumps each process's count. Instructions per task =
the sum over the worker's processes / tasks, less what the worker spends idle in that window
(its idle rate, measured just before over ``--idle`` seconds, times the window's length).
*Off* is plain ``python -m celery … worker``; *on* is ``python -m _pooldesk_probe …`` (the
per-task ``_pooldesk_fit`` measurement, its events, the gevent loop-lag greenlet), the same
arguments otherwise, for prefork -c 2 and gevent -c 50. The
idle rates (instructions per second with nothing to run) are printed beside: the probe's
periodic work costs per second of uptime, not per task. Goal: ≤ 3 % of a noop task.

A whole gevent worker's count moves by a few % from run to run (timing decides its loop turns),
so the gevent probe is also taken apart and accounted (``_probe_switches``): its hooks and its
switch hook counted in a script, times the switches the worker's own dump shows per task.
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import time

import _probe_switches as switches
import psutil
from fitbench import APP, bench_home, run_batch


def hook_cost_us(n: int = 20_000) -> float:
    """The hooks' own cost per task, in this process (prefork/solo path): prerun + postrun."""
    import sys
    import time

    from pooldesk.backend.workers import inworker

    sys.path.insert(0, str(inworker.path()))
    import _pooldesk_fit as fit

    class Request:
        hostname, delivery_info = "w@h", {"routing_key": "q"}

    class Task:
        name, request, app = "t", Request(), None

    task = Task()
    start = time.perf_counter()
    for i in range(n):
        fit.on_prerun(task_id=str(i), task=task)
        fit.on_postrun(task_id=str(i), task=task)
    return (time.perf_counter() - start) / n * 1e6


def hook_instructions(n: int = 2000) -> float:
    """The hooks' instructions per task (prerun + postrun), under callgrind: the same script
    run with ``n`` and with 0 hook calls, the difference over ``n`` (interpreter start-up and
    imports cancel out)."""
    counts = []
    for calls in (0, n):
        out = tempfile.mktemp(prefix="pooldesk-callgrind-hooks-")
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
             __file__, "--hooks-only", str(calls)],
            check=True, capture_output=True, timeout=600,
        )  # fmt: skip
        counts.append(_total_ir([out]))
        os.unlink(out)
    return (counts[1] - counts[0]) / n


VALGRIND_SLOWDOWN = 50


def _worker_argv(pool: str, conc: int, name: str, probe: bool) -> list[str]:
    from pooldesk.backend.workers.process import celery_argv
    from pooldesk.backend.workers.spec import WorkerSpec

    argv = celery_argv(WorkerSpec(name, pool, conc, ("bench",), app=APP))
    return [sys.executable, "-m", "_pooldesk_probe" if probe else "celery", *argv]


def _wait_ready(proc: subprocess.Popen[bytes], app: object, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}")
        replies = app.control.ping(timeout=1.0)  # type: ignore[attr-defined]
        if any(name in next(iter(r)) for r in replies):
            return
    raise RuntimeError(f"{name} did not answer a ping within {timeout:.0f} s")


def _pids(proc: subprocess.Popen[bytes]) -> list[str]:
    root = psutil.Process(proc.pid)
    return [str(p.pid) for p in [root, *root.children(recursive=True)]]


def _control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=False, capture_output=True, timeout=120)


def _total_ir(files: list[str]) -> int:
    total = 0
    for path in files:
        with open(path, errors="replace") as fh:
            for line in fh:
                if line.startswith(("summary:", "totals:")):
                    total += int(line.split()[1])
                    break
    return total


def _dump_ir(out: str, dump: int) -> int:
    """The instructions of every process's ``dump``-th dump (``cg.PID.N``)."""
    return _total_ir(glob.glob(f"{out}/cg.*.{dump}"))


def measure(
    app: object, config: object, pool: str, conc: int, probe: bool, tasks: int, idle_s: float
) -> tuple[float, float, switches.Counter[str]]:
    """(instructions per noop task with the idle rate taken out, idle instructions per second,
    calls of the switch hook and of ``pread`` in the task window) of one worker under
    callgrind, summed over its processes. The idle rate is what the worker
    does per second with nothing to run (heartbeats; with the probe, its 100-ms loop-lag
    greenlet and 1-s events): callgrind counts it for every second of the stretched task window
    too, so it is measured first (dump 1) and subtracted from the task window (dump 2)."""
    from pooldesk.backend.workers import inworker
    from pooldesk.backend.workers.process import worker_env
    from pooldesk.backend.workers.spec import WorkerSpec

    name = f"cg-{pool}-{'on' if probe else 'off'}"
    spec = WorkerSpec(name, pool, conc, ("bench",), app=APP)
    env = worker_env(spec, config)  # type: ignore[arg-type]
    env["PYTHONPATH"] = os.pathsep.join([str(inworker.path()), os.getcwd()])
    # gevent's monitor reports a loop "blocked" past 0.1 s of *wall* time; under valgrind's
    # ~50× slowdown every ordinary greenlet run crosses that, and formatting those reports
    # (gevent's did_block_hub_report) then dominated the count (91 % of an idle gevent worker
    # with the probe). Scaled by the slowdown, the threshold means what it means in real use.
    env["GEVENT_MAX_BLOCKING_TIME"] = str(0.1 * VALGRIND_SLOWDOWN)
    # The probe's own timers (its 1-s events, gevent's 100-ms lag tick) are stretched the same
    # way: unscaled, a window ~50× longer carried ~50× more of its events per task.
    env["POOLDESK_PROBE_TIME_SCALE"] = str(VALGRIND_SLOWDOWN)
    out = tempfile.mkdtemp(prefix="pooldesk-callgrind-")
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--trace-children=yes",
         f"--callgrind-out-file={out}/cg.%p", *_worker_argv(pool, conc, name, probe)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_ready(proc, app, name, timeout=600)
        run_batch(app, "noop", "bench", 100, 0, timeout=600)  # warm: connections, imports
        pids = _pids(proc)
        _control("-i", "on", *pids)
        _control("-z", *pids)
        time.sleep(idle_s)
        _control("-d", *pids)  # dump 1: idle
        idle_rate = _dump_ir(out, 1) / idle_s
        _control("-z", *pids)
        start = time.monotonic()
        run_batch(app, "noop", "bench", tasks, 0, timeout=1800)
        wall = time.monotonic() - start
        _control("-d", *pids)  # dump 2: the tasks
        found = switches.calls(glob.glob(f"{out}/cg.*.2"))
        return (_dump_ir(out, 2) - idle_rate * wall) / tasks, idle_rate, found
    finally:
        os.killpg(proc.pid, 9)
        proc.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle measurement")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--pools", default="prefork,gevent", help="which pools (comma-separated)")
    parser.add_argument("--hooks-only", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--switch-script", nargs=3, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.switch_script is not None:  # the child of _probe_switches.per_task, under callgrind
        mode, count, n = args.switch_script
        switches.script(mode, int(count), int(n))
        return 0
    if args.hooks_only is not None:  # the child of hook_instructions(), under callgrind
        hook_cost_us(args.hooks_only) if args.hooks_only else hook_cost_us(1)
        return 0
    from pooldesk.backend.broker import current_config

    rows = []
    seen: list[switches.Counter[str]] = []
    with bench_home() as (_manager, app):
        config = current_config()
        chosen = args.pools.split(",")
        for pool, conc in [(p, c) for p, c in (("prefork", 2), ("gevent", 50)) if p in chosen]:
            got: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
            for round_ in range(args.rounds):
                for probe in (False, True) if round_ % 2 == 0 else (True, False):
                    per_task, idle, found = measure(
                        app, config, pool, conc, probe, args.tasks, args.idle
                    )
                    got[probe].append((per_task, idle))
                    state = "on" if probe else "off"
                    print(f"  {pool} -c {conc} probe {state}: {per_task / 1e6:.2f} M "
                          f"instructions/task, idle {idle / 1e6:.2f} M/s", flush=True)  # fmt: skip
                    if probe and pool == "gevent":
                        seen.append(found)
            off = min(got[False])
            on = min(got[True])
            rows.append((pool, conc, off, on))
    print(f"{'worker':<14}{'off Minstr/task':>16}{'on Minstr/task':>16}{'probe':>8}"
          f"{'idle off Minstr/s':>19}{'idle on Minstr/s':>18}")  # fmt: skip
    for pool, conc, off, on in rows:
        print(f"{pool + ' -c ' + str(conc):<14}{off[0] / 1e6:>16.2f}{on[0] / 1e6:>16.2f}"
              f"{on[0] / off[0] - 1:>8.1%}{off[1] / 1e6:>19.2f}{on[1] / 1e6:>18.2f}")  # fmt: skip
    cost = hook_cost_us()
    print(f"the hooks alone, in this process: {cost:.1f} µs per task")
    hooks = hook_instructions()
    print(f"the hooks alone, under callgrind: {hooks / 1e3:.1f} k instructions per task")
    gevent_off = next((off[0] for pool, _c, off, _on in rows if pool == "gevent"), None)
    if gevent_off is not None and seen:
        cost = switches.costs(__file__)
        print(f"gevent, taken apart: hooks {cost['hooks'] / 1e3:.1f} k instructions per task, "
              f"a switch of a measured task {cost['measured_switch'] / 1e3:.2f} k, any other "
              f"switch {cost['other_switch'] / 1e3:.2f} k ({cost['seconds']:.0f} s)")  # fmt: skip
        for found in seen:
            acc = switches.accounted(cost, found, args.tasks)
            share = acc["total"] / gevent_off
            print(f"  a worker's run: {acc['trace']:.1f} switches per task, {acc['measured']:.1f} "
                  f"of a measured task; the probe accounted: {acc['total'] / 1e3:.0f} k "
                  f"instructions per task = {share:.1%} of a noop task")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
