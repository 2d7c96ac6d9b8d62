"""How close is the launch forecast to the real wall time? Forecast and real batch side by side.

Run: ``.venv/bin/python bench/forecast_accuracy.py [--task-seconds 0.2] [--kinds cpu,block,coop]``.
In a temporary home with its own managed broker, for each kind of task of the test app
(``tests/fitapp.py``: pure CPU, a C call that blocks without yielding, a cooperative sleep):

1. a prefork × 4 and a gevent × 20 worker (started as Pooldesk starts them, probe included)
   each run a few calls of it: the measurement a user's earlier runs would leave;
2. ``forecast_batch`` — exactly what ``batch run --dry-run`` and the launch dialog call: a
   ~2.2 s listen to the probe's reports, then the wave model — forecasts a batch of ``calls``
   calls on each worker; and, from the *other* pool's measurement only, a cross forecast (what
   the recommended-pool row rests on when the task never ran on that pool);
3. the batch runs for real right after its forecast (a plain group of the same calls, sent at
   once) and its wall time is measured until the last result; ``load`` is the 1-min load
   average then.

Prints forecast vs measured with the ratio. Goal: within ±25 % (ratio 0.75–1.25) on prefork and
gevent for the three kinds. The machine may be shared: say so beside the figures.
"""

from __future__ import annotations

import argparse
import os
import socket
import time
from typing import Any

from fitbench import APP, KIND_TASK, bench_home, run_batch

CALLS = {"cpu": 24, "block": 40, "coop": 200, "mixed": 40}
POOLS = (("prefork", 4), ("gevent", 20))
MEASURE_CALLS = 6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task-seconds", type=float, default=0.2)
    parser.add_argument("--kinds", default="cpu,block,coop")
    parser.add_argument("--scale", type=float, default=1.0, help="× the calls per batch")
    args = parser.parse_args()
    from pooldesk.backend.batches.forecast import Consumer, _load, forecast_batch, forecast_from
    from pooldesk.backend.batches.forecast_sources import (
        History,
        autogroup,
        cpu_times,
        listen_fit,
        runnable_others,
    )
    from pooldesk.backend.workers.spec import WorkerSpec, cores

    print(f"{cores()} cores, load average {os.getloadavg()[0]:.1f} at the start")
    table: list[tuple[str, ...]] = []
    with bench_home() as (manager, app):
        for kind in args.kinds.split(","):
            calls = max(2, round(CALLS[kind] * args.scale))
            task = KIND_TASK[kind]
            workers = {pool: (f"{kind}-{pool}", f"fc-{kind}-{pool}", n) for pool, n in POOLS}
            for name, queue, n in workers.values():
                pool = name.split("-", 1)[1]
                manager.start(WorkerSpec(name, pool, n, (queue,), app=APP))
            try:
                for _, queue, _ in workers.values():  # 1. earlier runs: the measurement
                    run_batch(app, kind, queue, MEASURE_CALLS, args.task_seconds)
                views = listen_fit(manager.config)  # for the cross forecasts
                for pool, (name, queue, n) in workers.items():
                    # 2. the forecast, as `batch run --dry-run` asks for it
                    started = time.perf_counter()
                    out = forecast_batch(
                        project=None,
                        task=task,
                        queue=queue,
                        items=calls,
                        children=calls,
                        consumers=[Consumer(name, pool, n)],
                    )
                    took = time.perf_counter() - started
                    rows = out["forecast"]
                    if not rows:
                        print(f"{kind} {pool}: no forecast: {out['forecast_reason']}")
                        continue
                    others = "; ".join(
                        f"{r['pool']} × {r['concurrency']} {r['seconds']:.1f} s" for r in rows[1:]
                    )
                    print(f"{kind} on {pool} × {n} (answered in {took:.1f} s): {rows[0]['basis']}"
                          + (f"  [recommended: {others}]" if others else ""))  # fmt: skip
                    # the cross forecast: this pool's row from the other pool's measurement only
                    other = next(p for p in workers if p != pool)
                    host = f"{workers[other][0]}@{socket.gethostname()}"
                    cross = forecast_from(
                        task=task,
                        queue=queue,
                        items=calls,
                        children=calls,
                        consumers=[Consumer(name, pool, n)],
                        views={h: v for h, v in views.items() if h == host},
                        history=History(0, None, None),
                        cores=cores(),
                        load=_load(_sample(runnable_others, cpu_times, autogroup()), autogroup()),
                    )["forecast"]
                    # 3. the real batch, right after its forecast (the load moves)
                    wall = run_batch(app, kind, queue, calls, args.task_seconds, timeout=600)
                    load = os.getloadavg()[0]
                    for label, row in ((pool, rows[0]), (other, cross[0] if cross else None)):
                        if row is None:
                            continue
                        seconds = float(row["seconds"])
                        table.append((
                            f"{task} × {calls}", f"{pool} × {n}", label, f"{seconds:.2f}",
                            f"{wall:.2f}", f"{seconds / wall:.2f}", f"{load:.1f}",
                        ))  # fmt: skip
            finally:
                for name, _, _ in workers.values():
                    manager.stop(name, timeout=30)
                    manager.forget(name)
    head = ("batch", "runs on", "measured on", "forecast s", "real s", "ratio", "load")
    widths = [max(len(r[i]) for r in [head, *table]) for i in range(len(head))]
    print()
    for row in [head, *table]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    return 0


def _sample(runnable: Any, times: Any, grouped: bool) -> tuple[float, float, float | None]:
    """The load over one second, as the forecast samples it while it listens."""
    first, samples = times(), []
    for _ in range(5):
        samples.append(runnable(grouped) or (0, 0.0))
        time.sleep(0.2)
    last = times()
    idle = None
    if first and last and last[1] > first[1]:
        idle = (os.cpu_count() or 1) * (last[0] - first[0]) / (last[1] - first[1])
    n = len(samples)
    return sum(a for a, _ in samples) / n, sum(b for _, b in samples) / n, idle


if __name__ == "__main__":
    raise SystemExit(main())
