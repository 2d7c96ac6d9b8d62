"""The product's case study, measured on this machine, without touching the user's data.

    .venv/bin/python bench/compare_pools.py --scale 1

Runs :func:`pooldesk.backend.casestudy.run_case_study` in a throwaway ``POOLDESK_HOME`` (its own
managed broker, invoice database and worker logs), prints the table and each ratio against its
target, then stops the broker and deletes the directory. At ``--scale 1`` (6,000 invoices in 12
chunks, 1,000 URLs at 200 ms) it takes a few minutes on a 2-core machine, most of it the prefork
monitoring run (1,000 × 0.2 s over 2 processes ≈ 100 s). Exits 0 whether or not the targets are
met: the point is the figures; ``--json`` prints the full report instead of the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

from _common import bench_home  # also puts the repository root on sys.path


def _scale(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{value} must be > 0 and <= 1")
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=_scale, default=1.0, help="0 < F <= 1 (default 1)")
    parser.add_argument("--cores", type=int, default=None, help="prefork -c (default: cores)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()

    with bench_home():  # its broker stopped and the directory deleted on the way out
        from pooldesk.backend.casestudy import run_case_study

        began = time.monotonic()
        load = os.getloadavg()
        try:
            report = run_case_study(
                scale=args.scale,
                cores=args.cores,
                progress=lambda m: print(
                    f"[{time.monotonic() - began:6.1f} s] {m}", file=sys.stderr
                ),
            )
        except KeyboardInterrupt:  # run_case_study has stopped its workers on the way out
            print("interrupted", file=sys.stderr)
            return 130
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, sort_keys=True))
        return 0
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"1-min load average {load[0]:.2f} before, {os.getloadavg()[0]:.2f} after "
        "(other work on the machine skews the figures); "
        f"scale {args.scale} "
        f"({report.runs[0].items:,} invoices in {report.runs[0].children} chunks, "
        f"{report.runs[-1].items:,} URLs); total {time.monotonic() - began:.0f} s"
    )
    print(report.format_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
