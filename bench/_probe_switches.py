"""The probe's cost under gevent taken apart, in instructions: per task, per switch.

A whole gevent worker under callgrind varies run to run by a few % of a noop task (its loop
turns, polls and batched reads follow timing), as much as the probe costs; its parts do not.
So, beside the whole-worker figure, ``probe_overhead.py`` counts:

- what the probe costs per task and per greenlet switch, in a script that runs noop
  "tasks" as greenlets of a gevent pool (the hooks, and ``switches`` ``gevent.sleep(0)`` each:
  one switch to the hub and one back), with the probe off, with only its switch hook installed
  (no task measured: the cost every other switch pays) and fully on; each difference of a run
  of ``n`` tasks and one of ``n / 5`` so start-up and imports cancel out;
- how often a real worker pays them: the calls of greenlet's trace hook and of ``pread``
  (one schedstat reading per switch into or out of a measured task, two per task for its
  start and end) in the worker's own callgrind dump.

Their product is the probe's cost per task, accounted; the whole-worker difference checks it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from typing import Any

SWITCHES = 10  # gevent.sleep(0) per task in the script: 20 switches, all of a measured task


def script(mode: str, switches: int, n: int) -> None:
    """The script run under callgrind (``probe_overhead.py --switch-script MODE SW N``)."""
    from pooldesk.backend.workers import inworker

    # POOLDESK_BENCH_INWORKER: another copy of the in-worker modules (an older probe, to compare)
    sys.path.insert(0, os.environ.get("POOLDESK_BENCH_INWORKER") or str(inworker.path()))
    import _pooldesk_fit as fit  # imported before gevent patches threading, as in a worker
    from gevent import monkey

    monkey.patch_all()
    import gevent
    from gevent.pool import Pool

    class Request:
        hostname, delivery_info = "w@h", {"routing_key": "q"}

    class Task:
        name, request, app = "t", Request(), None

    task = Task()
    if mode != "off":
        assert fit._current().pool == "gevent"

    def one(i: int) -> None:
        if mode == "on":
            fit.on_prerun(task_id=str(i), task=task)
        for _ in range(switches):
            gevent.sleep(0)
        if mode == "on":
            fit.on_postrun(task_id=str(i), task=task)

    pool = Pool(50)
    for i in range(n):
        pool.spawn(one, i)
    pool.join()


def _count(argv: list[str]) -> int:
    out = tempfile.mktemp(prefix="pooldesk-callgrind-switch-")
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, *argv],
        check=True, capture_output=True, timeout=900,
    )  # fmt: skip
    try:
        with open(out, errors="replace") as fh:
            for line in fh:
                if line.startswith(("summary:", "totals:")):
                    return int(line.split()[1])
    finally:
        os.unlink(out)
    raise RuntimeError("no total in the callgrind output")


def per_task(bench: str, mode: str, switches: int, n: int = 500) -> float:
    """Instructions per task of the script in ``mode``."""
    small, big = n // 5, n
    counts = [_count([bench, "--switch-script", mode, str(switches), str(k)]) for k in (small, big)]
    return (counts[1] - counts[0]) / (big - small)


def costs(bench: str) -> dict[str, float]:
    """Instructions: the hooks per task (gevent), a switch of a measured task, another switch."""
    start = time.monotonic()
    off0, on0 = per_task(bench, "off", 0), per_task(bench, "on", 0)
    off, trace, on = (per_task(bench, m, SWITCHES) for m in ("off", "trace", "on"))
    switches = 2 * SWITCHES
    return {
        "hooks": on0 - off0,
        "measured_switch": ((on - off) - (on0 - off0)) / switches,
        "other_switch": (trace - off) / switches,
        "seconds": time.monotonic() - start,
    }


_FN = re.compile(r"(c?fn)=\((\d+)\)(?: (.*))?")


def calls(files: list[str]) -> Counter[str]:
    """Calls of greenlet's trace hook (``g_calltrace``) and of ``os_pread`` in callgrind dumps."""
    names: dict[str, str] = {}
    found: Counter[str] = Counter()
    callee: str | None = None
    for path in files:
        names.clear()
        with open(path, errors="replace") as fh:
            for line in fh:
                match = _FN.match(line)
                if match:
                    kind, ref, name = match.groups()
                    if name:
                        names[ref] = name.strip()
                    callee = names.get(ref, "") if kind == "cfn" else None
                elif callee and line.startswith("calls="):
                    count = int(line[6:].split()[0])
                    if "g_calltrace" in callee:
                        found["trace"] += count
                    elif callee == "os_pread" or callee.startswith("os_pread "):
                        found["pread"] += count
    return found


def accounted(cost: dict[str, Any], found: Counter[str], tasks: int) -> dict[str, float]:
    """Per task: switches the hook saw, those of a measured task, and the probe's cost."""
    trace = found["trace"] / tasks
    measured = max(0.0, found["pread"] / tasks - 2)  # less the readings at a task's start, end
    other = max(0.0, trace - measured)
    total = cost["hooks"] + measured * cost["measured_switch"] + other * cost["other_switch"]
    return {"trace": trace, "measured": measured, "other": other, "total": total}
