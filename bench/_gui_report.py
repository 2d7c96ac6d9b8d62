"""The report of ``bench/gui_responsiveness.py``: first paint, GUI-thread stalls, where they were.

Apart from the script so the script holds what is measured and how, and this what is printed
and against which targets; the figures arrive as the window child's final status (a dict).
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections import Counter
from typing import Any

from _common import pct

TICK_MS = 10  # the stall meter's interval: a tick later than this is a stall
PAINT_TARGET_S = 1.5
MAX_STALL_TARGET_MS = 200.0
P99_STALL_TARGET_MS = 50.0
OWN_FRAMES = ("gui_responsiveness.py", "_common.py", "threading.py")  # not where time went


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _progress(record: Any) -> str:
    counts = record.counts or {}
    total = int(counts.get("total", 0))
    done = sum(int(counts.get(k, 0)) for k in ("succeeded", "failed", "cancelled"))
    text = f"{record.state}, {done}/{total or '?'} chunks ended"
    if record.summary:
        text += (
            f", {record.summary.get('invoices_created', 0):,} invoices in "
            f"{record.summary.get('wall_seconds', 0):.1f} s"
        )
    return text


def report(
    args: argparse.Namespace,
    final: dict[str, Any],
    measured_s: float,
    record: Any,
    mon_record: Any,
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
    suites: int,
) -> None:
    stalls: list[tuple[float, float, str, float, float, float]] = [
        (float(a), float(b), str(c), float(d), float(e), float(f))
        for a, b, c, d, e, f in final.get("stalls", [])
    ]
    ordered = sorted(s[1] * 1000 for s in stalls)
    p50, p99 = pct(ordered, 0.50), pct(ordered, 0.99)
    worst = ordered[-1] if ordered else 0.0
    paint = float(final.get("first_paint_s") or 0.0)
    exec_paint = float(final.get("exec_to_paint_s") or 0.0)
    print(
        f"\n{args.workers} workers, {args.customers:,} invoices in chunks of {args.chunk_size}, "
        f"{args.urls:,} URL checks; {os.cpu_count()} cores; page switch every "
        f"{args.page_seconds:g} s ({final.get('switches', 0)} switches)"
    )
    print(
        "load average before: {:.2f} {:.2f} {:.2f}; after: {:.2f} {:.2f} {:.2f}; "
        "other pytest processes at start: {}".format(*load_before, *load_after, suites)
    )
    print("\n(a) start → first paint")
    print(
        f"  QApplication created → first paint done   {paint * 1000:7.0f} ms  "
        f"(target < {PAINT_TARGET_S:g} s: {_verdict(paint < PAINT_TARGET_S)})"
    )
    print(
        f"  … of which until the first Paint event      "
        f"{(final.get('paint_event_s') or 0) * 1000:7.0f} ms"
    )
    print(
        f"  process start → first paint (imports incl.) {exec_paint * 1000:7.0f} ms  "
        f"(imports {(final.get('imports_s') or 0) * 1000:.0f} ms; same target: "
        f"{_verdict(exec_paint < PAINT_TARGET_S)})"
    )
    online = final.get("workers_online_s")
    if online is not None:
        print(f"  QApplication created → all workers online  {online * 1000:7.0f} ms  (info)")
    print(f"\n(b) GUI-thread stalls over {measured_s:.1f} s of batch ({len(ordered):,} ticks)")
    print(f"  p50 {p50:.1f} ms · p99 {p99:.1f} ms · max {worst:.1f} ms")
    for limit in (50, 100, 200):
        print(f"  stalls > {limit:3d} ms: {sum(1 for s in ordered if s > limit)}")
    print(
        f"  longest stall < {MAX_STALL_TARGET_MS:.0f} ms: "
        f"{_verdict(worst < MAX_STALL_TARGET_MS)} ({worst:.1f} ms)"
    )
    print(
        f"  p99 stall < {P99_STALL_TARGET_MS:.0f} ms:     "
        f"{_verdict(p99 < P99_STALL_TARGET_MS)} ({p99:.1f} ms)"
    )
    by_page: dict[str, list[float]] = {}
    for _, stall, page, *_ in stalls:
        by_page.setdefault(page, []).append(stall * 1000)
    for page, values in sorted(by_page.items()):
        values.sort()
        print(
            f"  on {page:9} {len(values):6,} ticks  p99 {pct(values, 0.99):6.1f} ms  "
            f"max {values[-1]:6.1f} ms  mean {statistics.fmean(values):.2f} ms"
        )
    by_start: dict[float, list[list[str]]] = {}
    for began, _since, stack in final.get("traces") or []:
        by_start.setdefault(round(began, 3), []).append(stack)
    print(
        "  ten longest stalls: s after launch, ms late, page on screen; meanwhile the GUI thread's"
        " CPU / the whole process's CPU / the GUI thread's wait for a core (run queue)"
        "[; where the GUI thread was, with --trace-stalls]:"
    )
    for at, stall, page, gui_cpu, proc_cpu, queued in sorted(stalls, key=lambda s: -s[1])[:10]:
        began = round(at - stall - TICK_MS / 1000, 3)
        seen = next((v for k, v in by_start.items() if abs(k - began) <= 0.002), [])
        where = Counter(_innermost(stack) for stack in seen).most_common(3)
        detail = "; ".join(f"{frame} ×{n}" for frame, n in where)
        print(
            f"    {at:6.1f} s  {stall * 1000:6.1f} ms  {page:9} CPU {gui_cpu * 1000:4.0f} / "
            f"{proc_cpu * 1000:4.0f} ms, run queue {queued * 1000:4.0f} ms  {detail}"
        )
    late = [s for s in stalls if s[1] > 0.05]
    if late:
        wall = sum(s[1] + TICK_MS / 1000 for s in late)
        print(
            f"  during the {len(late)} stalls > 50 ms ({wall:.2f} s): GUI thread on CPU "
            f"{sum(s[3] for s in late) / wall:.0%} of the time, the whole window process "
            f"{sum(s[4] for s in late) / wall:.0%} (100 % = one core); the GUI thread waited "
            f"for a core {sum(s[5] for s in late) / wall:.0%} of it; the rest it was blocked "
            "(the GIL, a lock, I/O)"
        )
    if final.get("traces"):
        _report_traces(final["traces"])
    print(f"\ninvoice batch: {_progress(record)}")
    if mon_record is not None:
        counts = mon_record.counts or {}
        print(
            f"monitoring batch: {mon_record.state}, {counts.get('succeeded', 0):,} ok, "
            f"{counts.get('failed', 0):,} failed of {counts.get('total', '?')}"
        )


def _ours(stack: list[str]) -> list[str]:
    return [
        f
        for f in stack
        if not f.startswith(("gui_responsiveness.py", "_common.py", "threading.py"))
    ]


def _innermost(stack: list[str]) -> str:
    ours = _ours(stack)
    return ours[-1] if ours else "(event loop: Qt C++, or waiting for the GIL / a CPU)"


def _report_traces(traces: list[tuple[float, float, list[str]]]) -> None:
    """Where the GUI thread was while late: each sample is ~10 ms of a stall > 40 ms."""
    inner: Counter[str] = Counter()
    stacks: Counter[tuple[str, ...]] = Counter()
    for _at, _since, stack in traces:
        inner[_innermost(stack)] += 1
        stacks[tuple(_ours(stack)[-6:])] += 1
    print(f"\n  stall samples (--trace-stalls): {len(traces)} (~10 ms each)")
    print("  innermost Python frame of the GUI thread while late:")
    for frame, count in inner.most_common(12):
        print(f"    {count:5d}  {frame}")
    print("  most frequent stacks (innermost last):")
    for frames, count in stacks.most_common(6):
        print(f"    {count:5d}  " + " > ".join(frames or ("(event loop)",)))
