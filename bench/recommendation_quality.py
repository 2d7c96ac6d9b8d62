"""Does Pooldesk recommend a good pool? Its pick against a sweep of pools × concurrency.

Run: ``.venv/bin/python bench/recommendation_quality.py [--task-seconds 0.2]``. For four
workloads of the test app (pure CPU, a C call blocking without CPU, a cooperative sleep, half
and half), in a temporary home:

1. the seed's setup, gevent -c 20, runs the workload while Pooldesk watches (the window's event
   monitor, sampler and advisor); its Pool fit row gives the recommended pool × concurrency;
2. a sweep runs the same workload under prefork 1 … 2 × cores and gevent 10 … 500;
3. the recommended configuration runs it too (it may lie outside the sweep).

Prints each configuration's throughput and the recommendation's share of the sweep's best.
Goal: ≥ 90 % for every workload. Small batches on purpose: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import time

from fitbench import APP, Observer, bench_home, run_batch

COUNTS = {"cpu": 16, "block": 60, "coop": 300, "mixed": 40}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task-seconds", type=float, default=0.2)
    parser.add_argument("--kinds", default="cpu,block,coop,mixed")
    args = parser.parse_args()
    from pooldesk.backend.workers.spec import WorkerSpec

    cores = os.cpu_count() or 1
    sweep = [("prefork", n) for n in sorted({1, cores, 2 * cores})]
    sweep += [("gevent", n) for n in (10, 100, 500)]
    summary = []
    with bench_home() as (manager, app):
        serial = 0

        def run(kind: str, pool: str, conc: int) -> float:
            nonlocal serial
            serial += 1
            name, queue = f"q{serial}", f"{kind}{serial}"
            manager.start(WorkerSpec(name, pool, conc, (queue,), app=APP))
            try:
                wall = run_batch(app, kind, queue, COUNTS[kind], args.task_seconds)
            finally:
                manager.stop(name, timeout=30)
                manager.forget(name)
            rate = COUNTS[kind] / wall
            print(f"  {kind:<6}{pool:>8} × {conc:<4}{rate:>8.1f} tasks/s  ({wall:.1f} s)")
            return rate

        for kind in args.kinds.split(","):
            # 1. watch the seed's configuration and ask Pooldesk
            queue = f"{kind}-seen"
            manager.start(WorkerSpec("seen", "gevent", 20, (queue,), app=APP))
            observer = Observer(manager)
            try:
                run_batch(app, kind, queue, COUNTS[kind], args.task_seconds)
                time.sleep(2.5)  # the probe's totals reach the monitor
                row = next(r for r in observer.rows() if r.queue == queue)
            finally:
                observer.close()
                manager.stop("seen", timeout=30)
                manager.forget("seen")
            pick = (row.recommended_pool or "gevent", row.recommended_concurrency or 20)
            print(f"{kind}: measured {row.nature} on gevent × 20 ({row.basis}); Pooldesk: "
                  f"{pick[0]} × {pick[1]} ({row.formula})")  # fmt: skip
            # 2. the sweep, 3. the pick
            rates = {config: run(kind, *config) for config in sweep}
            picked = rates[pick] if pick in rates else run(kind, *pick)
            best = max(rates, key=lambda c: rates[c])
            summary.append((kind, row.nature, pick, picked, best, rates[best]))
    print()
    print(f"{'workload':<9}{'measured':<10}{'Pooldesk picks':<17}{'tasks/s':>8}   "
          f"{'sweep best':<16}{'tasks/s':>8}{'share':>8}")  # fmt: skip
    for kind, nature, pick, picked, best, best_rate in summary:
        mine, top = f"{pick[0]} × {pick[1]}", f"{best[0]} × {best[1]}"
        print(f"{kind:<9}{nature:<10}{mine:<17}{picked:>8.1f}   "
              f"{top:<16}{best_rate:>8.1f}{picked / best_rate:>8.0%}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
