"""``pooldesk metrics serve [--port P] [--once] [--json]``: Prometheus metrics without the window.

Serves on 127.0.0.1 only (see ``backend/metrics/server.py``) until Ctrl-C or SIGTERM. The
window serves the same metrics from its own measurements when ``metrics_port`` is set.
"""

from __future__ import annotations

import argparse
import signal
import threading

from pooldesk.backend.cli.grammar import Parser
from pooldesk.backend.cli.output import emit_json, fail
from pooldesk.backend.metrics import DEFAULT_PORT


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (1-65535)")
    return value


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    metrics = sub.add_parser("metrics", help="Prometheus metrics (127.0.0.1 only)")
    msub = metrics.add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=Parser
    )
    serve = msub.add_parser(
        "serve",
        help="serve /metrics on 127.0.0.1 until Ctrl-C",
        description="Measure workers, tasks, queues, warnings and batches, and serve them for "
        "Prometheus at http://127.0.0.1:PORT/metrics (loopback only).",
    )
    serve.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})"
    )
    serve.add_argument("--json", action="store_true", help="print the address as JSON once serving")
    serve.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pooldesk.backend.audit.live import AuditWatch
    from pooldesk.backend.broker import BrokerError, ensure_broker
    from pooldesk.backend.metrics.collector import MetricsInput
    from pooldesk.backend.metrics.server import MetricsFeed, MetricsServer
    from pooldesk.backend.settings import load
    from pooldesk.backend.telemetry.live import LiveTelemetry

    settings = load().settings
    try:
        config = ensure_broker()
    except BrokerError as exc:
        return fail(str(exc))
    feed = MetricsFeed()
    server = MetricsServer(feed, args.port)
    try:
        server.start()
    except OSError as exc:
        return fail(f"cannot serve metrics on 127.0.0.1:{args.port}: {exc.strerror or exc}")
    live = LiveTelemetry(config, settings).start()
    audits = AuditWatch(live.thresholds)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if args.json:
        emit_json({"url": server.url, "port": server.port})
    else:
        print(f"serving Prometheus metrics at {server.url} (Ctrl-C stops)", flush=True)
    try:
        while not stop.is_set():
            r = live.tick()
            findings = [f for report in audits.poll(r.obs) for f in report.findings]
            feed.update(
                MetricsInput(
                    r.events, r.samples, r.workers, r.broker, r.advice, r.batches, r.fit, findings
                )
            )
            live.wait(settings.sampling_interval)  # listening to the fleet's hosts meanwhile
    finally:
        server.stop()
        live.close()
    return 0
