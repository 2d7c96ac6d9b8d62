"""What the per-task probe costs: noop tasks with the probe on and off, side by side.

Run: ``.venv/bin/python bench/probe_overhead.py [--tasks 2000] [--rounds 2]``. Starts, in a
temporary home, the same worker twice per round — ``POOLDESK_FIT_PROBE=1`` then ``=0`` (the
in-worker measurement of ``_pooldesk_fit``; everything else identical) — for prefork -c 2 and
gevent -c 50, sends ``--tasks`` noop tasks at once and measures throughput (tasks / wall until
the last result) and the worker tree's CPU per task. Rounds alternate on/off so a busy neighbour
hurts both (the order flips every round). Goal: ≤ 3 % throughput loss.
"""

from __future__ import annotations

import argparse
import statistics

from fitbench import APP, bench_home, run_batch, tree_cpu


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    from pooldesk.backend.workers.spec import WorkerSpec

    rows = []
    with bench_home() as (manager, app):
        for pool, conc in (("prefork", 2), ("gevent", 50)):
            got: dict[str, list[tuple[float, float]]] = {"on": [], "off": []}
            for round_ in range(args.rounds):
                for probe in ("on", "off") if round_ % 2 == 0 else ("off", "on"):
                    env = {"POOLDESK_FIT_PROBE": "1" if probe == "on" else "0"}
                    name = f"{pool[0]}{probe}"
                    info = manager.start(
                        WorkerSpec(name, pool, conc, ("bench",), app=APP, extra_env=env)
                    )
                    run_batch(app, "noop", "bench", 100, 0)  # warm: connections, imports
                    cpu0 = tree_cpu(info.pid)
                    wall = run_batch(app, "noop", "bench", args.tasks, 0)
                    cpu = tree_cpu(info.pid) - cpu0
                    got[probe].append((args.tasks / wall, cpu / args.tasks * 1000))
                    print(f"  {pool} -c {conc} probe {probe}: {args.tasks / wall:.0f} tasks/s, "
                          f"{cpu / args.tasks * 1000:.2f} ms CPU/task", flush=True)  # fmt: skip
                    manager.stop(name, timeout=15)
                    manager.forget(name)
            on = statistics.median(r for r, _ in got["on"])
            off = statistics.median(r for r, _ in got["off"])
            cpu_on = statistics.median(c for _, c in got["on"])
            cpu_off = statistics.median(c for _, c in got["off"])
            rows.append((pool, conc, off, on, cpu_off, cpu_on))
    print(f"{'worker':<14}{'off tasks/s':>12}{'on tasks/s':>12}{'change':>9}"
          f"{'off CPU ms/task':>17}{'on CPU ms/task':>16}")  # fmt: skip
    for pool, conc, off, on, cpu_off, cpu_on in rows:
        print(f"{pool + ' -c ' + str(conc):<14}{off:>12.0f}{on:>12.0f}{(on / off - 1):>9.1%}"
              f"{cpu_off:>17.2f}{cpu_on:>16.2f}")  # fmt: skip
    cost = hook_cost_us()
    print(f"the hooks alone: {cost:.1f} µs per task ({cost / 1000 / rows[0][4]:.1%} of a prefork "
          "noop task's CPU)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
