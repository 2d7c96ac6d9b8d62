"""What sampling costs: 8 real workers (4 prefork -c 2, 4 gevent -c 20), 30 s at 1 s.

Run: ``.venv/bin/python bench/sampler_cost.py [--seconds 30] [--interval 1.0]``. Everything
lives in a temporary ``POOLDESK_HOME`` (its own broker) and is stopped at the end. Reports the
sampler thread's own CPU time / wall (``time.thread_time`` inside the thread) and, as a
cross-check, this whole process's CPU time while sampling minus an idle baseline of equal
length. The target is < 1 % of one core.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from _common import bench_home  # also puts the repository root on sys.path


def _process_cpu() -> float:
    times = os.times()
    return times.user + times.system


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    with bench_home():  # its broker stopped and the directory deleted on the way out
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from pooldesk.backend.broker import ensure_broker
    from pooldesk.backend.telemetry.sampler import ResourceSampler, SamplerThread
    from pooldesk.backend.telemetry.samples import Snapshot
    from pooldesk.backend.workers.manager import WorkerManager
    from pooldesk.backend.workers.spec import WorkerSpec

    config = ensure_broker()
    manager = WorkerManager(config=config, stop_timeout=20)
    specs = [WorkerSpec(f"pf{i}", "prefork", 2, ("default",)) for i in range(4)]
    specs += [WorkerSpec(f"gv{i}", "gevent", 20, ("default",)) for i in range(4)]
    try:
        for spec in specs:
            manager.start(spec, wait=False)
        for spec in specs:
            info = manager.wait_ready(spec.name, 60)
            print(f"{spec.name}: {info.state} pid {info.pid} ({spec.pool} -c {spec.concurrency})")
        manager.close()  # its broker connections would count as our CPU below

        baseline_start = _process_cpu()
        time.sleep(args.seconds / 3)
        idle = (_process_cpu() - baseline_start) / (args.seconds / 3)

        costs: list[float] = []
        seen: list[int] = []

        def on_sample(snapshot: Snapshot) -> None:
            costs.append(snapshot.cost_seconds)
            seen.append(len(snapshot.workers))

        sampler = ResourceSampler(manager.store)
        thread = SamplerThread(sampler, on_sample, interval=args.interval)
        cpu0, wall0 = _process_cpu(), time.monotonic()
        thread.start()
        time.sleep(args.seconds)
        thread.stop()
        process = (_process_cpu() - cpu0) / (time.monotonic() - wall0)

        last = thread.latest
        assert last is not None
        print(f"\nsamples: {thread.samples}, errors: {thread.errors}, workers seen: {max(seen)}")
        for name, w in sorted(last.workers.items()):
            print(
                f"  {name}: children {w.children}, USS {w.memory_bytes / 2**20:.0f} MB, "
                f"RSS {w.rss_bytes / 2**20:.0f} MB, fds {w.open_fds}, cores {w.cores_used}"
            )
        print(
            f"per sample: median {statistics.median(costs) * 1000:.2f} ms, "
            f"max {max(costs) * 1000:.2f} ms CPU"
        )
        print(f"sampler thread: {thread.cpu_seconds:.3f} s CPU / {thread.wall_seconds:.1f} s wall")
        print(f"  = {thread.cost * 100:.2f} % of one core")
        print(
            f"whole process: {process * 100:.2f} % while sampling, idle baseline "
            f"{idle * 100:.2f} % → sampling {(process - idle) * 100:.2f} %"
        )
        return 0 if thread.cost < 0.01 else 1
    finally:
        manager = WorkerManager(config=config, stop_timeout=20)
        for spec in specs:
            try:
                manager.stop(spec.name, timeout=20)
            except Exception as exc:
                print(f"stop {spec.name}: {exc}", file=sys.stderr)
        manager.close()


if __name__ == "__main__":
    sys.exit(main())
