"""``pooldesk fit [--seconds S] [--json]``: the Pool fit table, measured live.

Listens for S seconds (the in-worker probe reports each process's totals at least every 2 s),
then prints one row per queue: what its tasks measured, how it runs now, what fits it.
"""

from __future__ import annotations

import argparse
from typing import Any

from pooldesk.backend.cli.advise_cmds import add_measuring
from pooldesk.backend.cli.grammar import Parser
from pooldesk.backend.cli.output import emit_json, fail, table

COLUMNS = ("queue", "runs", "nature", "cpu", "hold", "workers", "verdict", "recommendation")


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    summary = "measured nature of every queue and the pool that fits it"
    add_measuring(sub, "fit", summary, "listen to the workers", run)


def rows(seconds: float) -> list[dict[str, Any]] | None:
    """The table's rows as JSON-ready dicts; ``None`` when the broker does not answer."""
    from pooldesk.backend.cli.advise_cmds import watch
    from pooldesk.backend.fit import fixloop
    from pooldesk.backend.fit.table import build

    _, obs, thresholds = watch(seconds)
    if obs is None:
        return None
    # A recent Fix… (the window's or another's): before/after, as the window shows it.
    rows = fixloop.annotate(build(obs, thresholds), obs, fixloop.recent())
    return [row.to_dict() for row in rows]


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _line(row: dict[str, Any]) -> list[str]:
    speedup = f" (≈ {row['speedup']:.1f}× faster)" if row.get("speedup") else ""
    return [
        row["queue"],
        str(row["runs"]),
        row["nature"] + (f" (declared {row['declared']})" if row.get("declared") else ""),
        _share(row["cpu_share"]),
        _share(row["hold_share"]),
        "; ".join(row["workers"]) or "none",
        row["verdict"],
        row["recommendation"] + speedup,
    ]


def run(args: argparse.Namespace) -> int:
    from pooldesk.backend.broker import BrokerError

    try:
        found = rows(args.seconds)
    except BrokerError as exc:
        return fail(str(exc))
    if found is None:
        return fail("the broker does not answer: nothing to measure")
    if args.json:
        emit_json(found)
        return 0
    if not found:
        print("no queue seen: no worker is online")
        return 0
    print(table(list(COLUMNS), [_line(r) for r in found]))
    for row in found:
        if row.get("formula"):
            print(f"  {row['queue']}: {row['formula']}")
        if row.get("fix"):
            print(f"  {row['queue']}: fix: {row['fix']['confirm']}")
        if row.get("after"):
            from pooldesk.backend.fit.fixloop import summary_of

            said = summary_of(row.get("before"), row["after"], row.get("faster"))
            print(f"  {row['queue']}: after the fix: {said}")
    return 0
