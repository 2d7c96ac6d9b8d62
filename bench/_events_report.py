"""The report of ``bench/events_vs_flower.py``: Pooldesk's window beside Flower, and the goals.

Apart from the script so the script holds how the stream is made and measured, and this what
is printed: one column per consumer, then each goal with its measured value and whether it is
met (>= 5,000 events/s, <= half of Flower's CPU per event, RSS <= Flower's, stall p99 < 50 ms).
"""

from __future__ import annotations

import argparse
import os
from typing import Any


def report(
    args: argparse.Namespace,
    expected: dict[str, int],
    publish_wall: float,
    rows: dict[str, dict[str, float]],
    stalls: dict[str, float],
    final: dict[str, Any],
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> None:
    p, f = rows["pooldesk"], rows["flower"]
    print(
        f"\n{args.tasks:,} tasks, {args.publishers} publishers, "
        f"rate cap {'none' if args.rate <= 0 else f'{args.rate:,.0f} ev/s'}, "
        f"{os.cpu_count()} cores"
    )
    sent = expected["pooldesk"]
    print(
        f"published: {sent:,} events ({expected['flower']:,} task events) in "
        f"{publish_wall:.1f} s = {sent / publish_wall:,.0f} ev/s"
    )
    print(f"{'':30}{'Pooldesk (window)':>20}{'Flower':>14}")
    lines = [
        ("events ingested", "ingested", "{:,.0f}"),
        ("  of published (%) [1]", None, None),
        ("wall to last event (s)", "wall", "{:.1f}"),
        ("events/s sustained", "eps", "{:,.0f}"),
        ("CPU seconds", "cpu", "{:.2f}"),
        ("CPU s per 1,000 events", "cpu_per_1k", "{:.4f}"),
        ("cores busy (CPU s / wall)", "core_share", "{:.2f}"),
        ("RSS before (MiB)", "rss0", "{:.1f}"),
        ("RSS at end (MiB)", "rss", "{:.1f}"),
        ("RSS peak (MiB)", "peak", "{:.1f}"),
    ]
    for label, key, fmt in lines:
        if key is None:
            a, b = (f"{r['ingested'] / max(1, r['expected']) * 100:.1f}" for r in (p, f))
        else:
            assert fmt is not None
            a, b = fmt.format(p[key]), fmt.format(f[key])
        print(f"{label:30}{a:>20}{b:>14}")
    print(
        f"{'GUI stall p50/p99/max (ms)':30}"
        f"{stalls.get('p50_ms', 0):>8.1f} /{stalls.get('p99_ms', 0):>5.1f} /"
        f"{stalls.get('max_ms', 0):>6.1f}{'—':>10}"
    )
    print(
        f"Pooldesk monitor: tasks_kept={final.get('tasks_kept')} resyncs={final.get('resyncs')} "
        f"reconnects={final.get('reconnects')} lag={final.get('lag_seconds', 0):.2f} s "
        f"stall ticks={stalls.get('ticks', 0)}"
    )
    print(
        "[1] Pooldesk: snapshot().events, all events; Flower: flower_events_total on /metrics, "
        "task events only (worker events are < 0.1 % of the stream)"
    )
    cpu_ratio = p["cpu_per_1k"] / f["cpu_per_1k"] if f["cpu_per_1k"] else float("inf")
    rss_ratio = p["rss"] / f["rss"] if f["rss"] else float("inf")
    eps_ratio = p["eps"] / f["eps"] if f["eps"] else float("inf")
    goals = [
        ("events/s sustained >= 5,000", f"{p['eps']:,.0f} ({eps_ratio:.2f}× Flower)",
         p["eps"] >= 5000),
        ("CPU per event <= 0.5× Flower", f"{cpu_ratio:.2f}×", cpu_ratio <= 0.5),
        ("RSS at end <= 1× Flower", f"{rss_ratio:.2f}×", rss_ratio <= 1.0),
        ("GUI stall p99 < 50 ms", f"{stalls.get('p99_ms', 0):.1f} ms",
         stalls.get("p99_ms", 0) < 50),
    ]  # fmt: skip
    print("\ngoal                            measured                      met")
    for label, value, ok in goals:
        print(f"{label:32}{value:30}{'yes' if ok else 'NO'}")
    print(
        "load average before: {:.2f} {:.2f} {:.2f}; after: {:.2f} {:.2f} {:.2f}".format(
            *load_before, *load_after
        )
    )
