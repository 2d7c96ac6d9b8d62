"""``pooldesk audit [--project P] [--json]``: the app's Celery settings judged against what its
tasks measured.

Reads the settings in the project's own interpreter (as ``project check`` does), the task
history and the workers Pooldesk runs for it, and prints each finding with its setting (value
and source), its measurement and its fix. Without ``--project``: every project that has
workers, or the demo when none has. An unknown project exits 2; findings are not errors (0).

Memory growth is a live measurement (a worker's memory watched for at least the Advisor
threshold ``uss_growth_window_s``, five minutes by default): ``--seconds S`` watches the workers
for S seconds first, as ``pooldesk advise`` does; the window and ``metrics serve`` watch all
along. Without it the audit answers at once, from settings, records and task history.
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

from pooldesk.backend.cli.grammar import Parser, positive_float
from pooldesk.backend.cli.output import emit_json, fail

if TYPE_CHECKING:
    from pooldesk.backend.advisor.model import Observations


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    parser = sub.add_parser(
        "audit", help="Celery settings judged against measured tasks (visibility timeout, acks, …)"
    )
    parser.add_argument("--project", default=None, help="a saved project, or demo (default: all)")
    parser.add_argument(
        "--seconds",
        type=positive_float,
        default=None,
        help="watch the workers this long first, for live measurements such as memory growth "
        "(which needs at least the Advisor's memory watch, 5 min by default)",
    )
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run)


def _value(value: Any) -> str:
    return "unset" if value is None else str(value)


def print_report(report: dict[str, Any]) -> None:
    head = f"{report['project']}: Celery {report['celery'] or '?'}, {report['transport'] or '?'}"
    print(f"{head}, {len(report['workers'])} worker(s), {report['tasks_measured']} runs measured")
    if report["error"]:
        print(f"    cannot audit: {report['error']}")
        return
    if not report["findings"]:
        print("    no findings: the settings fit what the tasks measured")
        return
    for item in report["findings"]:
        print(f"  [{item['severity']}] {item['title']}")
        print(f"      {item['text']}")
        for cfg in item["config"]:
            print(f"      setting: {cfg['setting']} = {_value(cfg['value'])} ({cfg['source']})")
        if item["measured"]:
            print("      measured: " + ", ".join(f"{k}={v}" for k, v in item["measured"].items()))
        print(f"      fix: {item['fix']['change']}")
        print(f"      docs: {item['fix']['docs']}")


def observe(seconds: float) -> Observations | None:
    """The workers watched for ``seconds`` (resource samples, events of every broker in use),
    as the window's telemetry does: the last observations. Pooldesk's own broker need not run
    (a project's workers use the project's broker), and none is started for it."""
    from pooldesk.backend.broker import current_config
    from pooldesk.backend.settings import load
    from pooldesk.backend.telemetry.live import LiveTelemetry

    settings = load().settings
    live = LiveTelemetry(current_config(settings), settings).start()
    obs = None
    try:
        deadline = time.monotonic() + seconds
        while True:
            time.sleep(1.0)
            obs = live.tick().obs
            if time.monotonic() >= deadline:
                return obs
    finally:
        live.close()


def run(args: argparse.Namespace) -> int:
    from pooldesk.backend.advisor.model import Thresholds
    from pooldesk.backend.audit.live import audit_all, projects_with_workers
    from pooldesk.backend.projects.model import DEMO
    from pooldesk.backend.projects.store import ProjectStore
    from pooldesk.backend.settings import load

    thresholds = Thresholds.from_settings(load().settings.advisor)
    if args.project is not None:
        if args.project != DEMO and ProjectStore().load(args.project) is None:
            return fail(f"no project named {args.project!r} (pooldesk project list)", code=2)
        projects = [args.project]
    else:
        projects = projects_with_workers() or [DEMO]
    obs = observe(args.seconds) if args.seconds is not None else None
    reports = [r.to_dict() for r in audit_all(thresholds, obs, projects, fresh=True)]
    if args.json:
        emit_json(reports)
        return 0
    for report in reports:
        print_report(report)
    return 0
