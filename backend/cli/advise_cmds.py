"""``pooldesk advise [--seconds S] [--json]``: the advisor's current warnings, measured live.

A one-shot run has no history, so it watches for a few seconds (resource samples, events, the
gevent probe's loop-lag reports) and shows every condition seen in that window, without the
window's hysteresis.
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

from pooldesk.backend.advisor.phrases import phrases
from pooldesk.backend.cli.grammar import Parser, positive_float
from pooldesk.backend.cli.output import emit_json, fail

if TYPE_CHECKING:
    from pooldesk.backend.advisor.model import Advice, Observations, Thresholds


def add_measuring(
    sub: argparse._SubParsersAction[Parser], name: str, summary: str, what: str, handler: Any
) -> argparse.ArgumentParser:
    """A command that measures live for ``--seconds`` (what: "measure", "listen to the
    workers") and then answers once, as text or ``--json``: ``advise`` and ``fit``."""
    parser: argparse.ArgumentParser = sub.add_parser(name, help=summary)
    parser.add_argument(
        "--seconds",
        type=positive_float,
        default=5.0,
        help=f"how long to {what} before answering (default 5)",
    )
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=handler)
    return parser


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    summary = "warnings about pool fit, deadlocks, memory, crashes"
    add_measuring(sub, "advise", summary, "measure", run)


def collect(seconds: float) -> list[Advice]:
    return watch(seconds)[0]


def watch(seconds: float) -> tuple[list[Advice], Observations | None, Thresholds]:
    """Measure for ``seconds``: the advice seen, the last observations (``None`` without a
    broker) and the thresholds in use. ``pooldesk fit`` builds its table from the same."""
    # Imported here: the parser imports this module, and ``pooldesk --help`` or the window
    # should not pay for Celery, redis and kombu.
    from pooldesk.backend.advisor.model import Thresholds
    from pooldesk.backend.advisor.service import AdvisorService
    from pooldesk.backend.broker import current_config, ensure_broker
    from pooldesk.backend.broker.status import broker_status
    from pooldesk.backend.settings import load
    from pooldesk.backend.telemetry.live import LiveTelemetry

    settings = load().settings
    status = broker_status(current_config())
    thresholds = Thresholds.from_settings({**settings.advisor, "raise_after": 1})
    if not status.up:
        service = AdvisorService(thresholds, settings.advisor.get("queue_nature"))
        return service.update(service.observe([], None, None, status, [])).current, None, thresholds
    live = LiveTelemetry(ensure_broker(), settings, thresholds).start()
    advice: dict[str, Advice] = {}
    obs: Observations | None = None
    try:
        deadline = time.monotonic() + seconds
        while True:
            live.wait(1.0)  # listening to the fleet's hosts meanwhile
            reading = live.tick()
            obs = reading.obs
            for item in reading.advice:
                kept = advice.get(item.id)
                if kept is None or _rank(item) <= _rank(kept):  # keep the strongest evidence
                    advice[item.id] = item
            if time.monotonic() >= deadline:
                break
    finally:
        live.close()
    return sorted(advice.values(), key=lambda a: (_rank(a), a.id)), obs, thresholds


def _rank(advice: Advice) -> int:
    return {"critical": 0, "warning": 1, "info": 2}.get(advice.severity, 3)


def run(args: argparse.Namespace) -> int:
    from pooldesk.backend.audit.live import audit_advice
    from pooldesk.backend.broker import BrokerError

    try:
        advice, obs, thresholds = watch(args.seconds)
    except BrokerError as exc:
        return fail(str(exc))
    advice += audit_advice(thresholds, obs)  # the configuration audit: rule family audit_*
    if args.json:
        emit_json([a.to_dict() for a in advice])
        return 0
    if not advice:
        print("no warnings: every queue runs on a pool that fits it")
        return 0
    for item in advice:
        print(f"[{item.severity}] {item.title}")
        print(f"    {item.text}")
        if item.evidence:
            # In words, as the window's chips (the exact figures: --json).
            print("    evidence: " + " · ".join(text for _k, text in phrases(item.evidence)))
        if item.fix:
            print(f"    fix: {item.fix.confirm}")
    return 0
