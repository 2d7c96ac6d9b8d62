"""What the per-task probe costs: noop tasks with the probe on and off, side by side.

Run: ``.venv/bin/python bench/probe_overhead.py [--tasks 2000] [--rounds 2]``. Starts, in a
temporary home, the same worker twice per round — ``POOLDESK_FIT_PROBE=1`` then ``=0`` (the
in-worker measurement of ``_pooldesk_fit``; everything else identical) — for prefork -c 2 and
gevent -c 50, sends ``--tasks`` noop tasks at once and measures throughput (tasks / wall until
the last result) and the worker tree's CPU per task. Rounds alternate on/off so a busy neighbour
hurts both. Goal: ≤ 3 % throughput loss.
"""

from __future__ import annotations

import argparse
import statistics

from fitbench import APP, bench_home, run_batch, tree_cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    from backend.workers.spec import WorkerSpec

    rows = []
    with bench_home() as (manager, app):
        for pool, conc in (("prefork", 2), ("gevent", 50)):
            got: dict[str, list[tuple[float, float]]] = {"on": [], "off": []}
            for _ in range(args.rounds):
                for probe in ("on", "off"):
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
