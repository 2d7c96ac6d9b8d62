"""What following a project batch costs Pooldesk per child, from 1,000 to 100,000 children.

Run: ``.venv/bin/python bench/project_follow_scale.py [--sizes 1000,10000,100000]
[--per-round 200] [--json]``.

No worker runs: in a throwaway ``POOLDESK_HOME`` with the managed broker, a project batch of N
children is recorded as sent (``ChildStore``), and each round the next ``--per-round`` children's
results are written to the result backend as a worker would (``store_result``), then the batch is
refreshed once exactly as ``batch status``/``--wait``/the window do (``ProjectBatches.refresh``).
Only the refreshes' CPU (this process, ``time.process_time``) is counted: the follower's cost per
child, and per refresh, should not grow with N (goal: flat within 1.5× from 1,000 to 100,000).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from typing import Any

from _common import bench_home, text_table


def measure(n: int, per_round: int) -> dict[str, Any]:
    from pooldesk.backend.batches.history import BatchRecord
    from pooldesk.backend.batches.project_batch import KIND, ProjectBatches
    from pooldesk.backend.batches.project_store import Child

    projects = ProjectBatches()
    batch_id = uuid.uuid4().hex
    params = {"project": "bench", "task": "pooldesk.noop", "queue": "bench-nobody"}
    record = BatchRecord(batch_id, KIND, {**params, "items": n}, "running", time.time())
    projects.history.add(record)
    kids = [Child(i, f"{batch_id}.{i}", [], {}, {"items": [i + 1, i + 1]}, 1) for i in range(n)]
    projects.store.add(batch_id, kids)
    for start in range(0, n, 5000):
        part = range(start, min(n, start + 5000))
        projects.store.mark_sent(batch_id, list(part), {i: f"{batch_id}.{i}" for i in part})
    target = projects._target(record)
    backend = projects._app(target).backend
    cpu, rounds, ended = 0.0, 0, 0
    while not record.final:
        for i in range(ended, min(n, ended + per_round)):
            backend.store_result(f"{batch_id}.{i}", {"ok": i}, "SUCCESS")
        ended = min(n, ended + per_round)
        began = time.process_time()
        record = projects.refresh(record)
        cpu += time.process_time() - began
        rounds += 1
    projects.close()
    assert record.state == "completed", record.state
    return {
        "children": n,
        "refreshes": rounds,
        "cpu_s": round(cpu, 3),
        "ms_per_child": round(cpu / n * 1000, 4),
        "ms_per_refresh": round(cpu / rounds * 1000, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--per-round", type=int, default=200, help="children ending per refresh")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    rows = []
    with bench_home("pooldesk-follow-"):
        from pooldesk.backend.broker import ensure_broker
        from pooldesk.backend.projects.check import run_check
        from pooldesk.backend.projects.model import Project
        from pooldesk.backend.projects.store import ProjectStore

        ensure_broker()
        spec = Project(
            name="bench",
            python=sys.executable,
            workdir=os.getcwd(),
            app="pooldesk.backend.celery_app:app",
            managed_broker=True,
        )
        store = ProjectStore()
        store.add(spec)
        store.save_check("bench", run_check(spec))
        for n in [int(x) for x in args.sizes.split(",") if x.strip()]:
            rows.append(measure(n, args.per_round))
            print(f"  {rows[-1]}", file=sys.stderr, flush=True)
    after = os.getloadavg()
    if args.json:
        print(json.dumps({"rows": rows, "load_before": load, "load_after": after}, indent=2))
        return 0
    head = ["children", "refreshes", "follower CPU s", "ms per child", "ms per refresh"]
    body = [
        [f"{r['children']:,}", str(r["refreshes"]), f"{r['cpu_s']:.2f}",
         f"{r['ms_per_child']:.3f}", f"{r['ms_per_refresh']:.1f}"]
        for r in rows
    ]  # fmt: skip
    print(text_table([head, *body]))
    print(f"load average before {load[0]:.2f}, after {after[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
