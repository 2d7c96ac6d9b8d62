"""``pooldesk compare-pools``: run the product's case study here, in the user's home.

It starts (and stops) its own workers on private queues and bills demo customers for a period
no real billing uses, so it can run beside the user's workers; what it is doing goes to stderr
as it goes, the table (or ``--json``) to stdout.
"""

from __future__ import annotations

import argparse
import sys

from pooldesk.backend.cli.grammar import Parser, positive_int
from pooldesk.backend.cli.output import emit_json, fail


def scale_fraction(text: str) -> float:
    """``--scale``: a share of the full workload, above 0 and at most 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{value} must be > 0 and <= 1")
    return value


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    compare = sub.add_parser(
        "compare-pools",
        help="run the case study: invoices and URL checks on gevent vs prefork, measured",
        description=(
            "Starts workers in this Pooldesk home, runs an invoice batch (CPU/DB-bound) and a "
            "monitoring batch (I/O-bound) on gevent and on prefork, and prints wall time, cores "
            "used and peak memory of each. Takes a few minutes at --scale 1."
        ),
    )
    compare.add_argument(
        "--scale",
        type=scale_fraction,
        default=1.0,
        metavar="F",
        help="share of the full workload (6,000 invoices, 1,000 URLs); 0 < F <= 1",
    )
    compare.add_argument(
        "--cores",
        type=positive_int,
        default=None,
        metavar="N",
        help="prefork concurrency (default: this machine's cores)",
    )
    compare.add_argument("--json", action="store_true")
    compare.set_defaults(handler=compare_pools)


def _progress(message: str) -> None:
    print(f"pooldesk: {message}", file=sys.stderr, flush=True)


def compare_pools(args: argparse.Namespace) -> int:
    # Imported here: the parser imports this module for ``register`` (see advise_cmds).
    from pooldesk.backend.broker import BrokerError
    from pooldesk.backend.casestudy import CaseStudyError, run_case_study
    from pooldesk.backend.workers.manager import WorkerError
    from pooldesk.backend.workers.spec import SpecError

    try:
        report = run_case_study(scale=args.scale, cores=args.cores, progress=_progress)
    except SpecError as exc:  # --cores beyond what a prefork spec allows: nothing was started
        return fail(str(exc), code=2)
    except (BrokerError, WorkerError, CaseStudyError) as exc:
        return fail(str(exc))
    if args.json:
        emit_json(report.to_dict())
    else:
        print(report.format_table())
    return 0
