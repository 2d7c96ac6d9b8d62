"""How long from the gevent trap starting to the critical warning, with no declared nature.

Run: ``.venv/bin/python bench/time_to_warning.py [--task-seconds 0.5]``. For a CPU-bound task
and for a C call that blocks without CPU (a database driver), in a temporary home: a fresh
gevent -c 20 worker on a queue Pooldesk has never heard of; the clock starts when the tasks are
sent; the advisor runs every second with the window's hysteresis (a warning shows after 2
consecutive evaluations), exactly as in the window. Goal: ≤ 10 s.
"""

from __future__ import annotations

import argparse
import time

from fitbench import APP, KIND_TASK, Observer, bench_home


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task-seconds", type=float, default=0.5)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    from pooldesk.backend.workers.spec import WorkerSpec

    print(f"{'workload':<10}{'critical after':>16}  evidence")
    with bench_home() as (manager, app):
        for kind in ("cpu", "block"):
            queue = f"trap_{kind}"
            name = f"trap-{kind}"
            manager.start(WorkerSpec(name, "gevent", 20, (queue,), app=APP))
            observer = Observer(manager)
            try:
                time.sleep(2)  # the monitor connected, the worker idle: no warning before
                assert not [a for a in observer.advice() if a.severity == "critical"]
                start = time.monotonic()
                for _ in range(40):
                    app.send_task(KIND_TASK[kind], args=[args.task_seconds], queue=queue)
                found = None
                while time.monotonic() - start < args.timeout and found is None:
                    time.sleep(max(0.0, 1.0 - (time.monotonic() - start) % 1.0))
                    found = next(
                        (a for a in observer.advice() if a.rule == "cpu_under_gevent"
                         and a.severity == "critical"),
                        None,
                    )  # fmt: skip
                took = time.monotonic() - start
                if found is None:
                    print(f"{kind:<10}{'not within ' + str(args.timeout) + ' s':>16}")
                else:
                    ev = found.evidence
                    fix = found.fix.confirm if found.fix else "-"
                    print(f"{kind:<10}{took:>14.1f} s  nature {ev['nature']}, longest hold "
                          f"{ev['hold_max_ms']:.0f} ms, fix: {fix}")  # fmt: skip
            finally:
                observer.close()
                manager.stop(name, timeout=15)
                app.control.purge()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
