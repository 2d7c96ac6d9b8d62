"""The ``/metrics`` HTTP endpoint: 127.0.0.1 only, its own registry, stoppable.

Loopback only, on purpose: the figures name workers, queues and task names, and the endpoint
has no authentication; a Prometheus on another machine scrapes through an SSH tunnel or a
reverse proxy the user controls. Its own ``CollectorRegistry`` (not prometheus_client's global
one) so nothing else in the process leaks into the exposition and tests can start several.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from pooldesk.backend.metrics import DEFAULT_PORT, HOST
from pooldesk.backend.metrics.collector import MetricsInput, PooldeskCollector


class MetricsFeed:
    """The latest :class:`MetricsInput`, replaced whole by the measuring thread.

    A single attribute swap is atomic in CPython, so the scrape thread reads a consistent
    input without a lock and the measuring thread never waits for a scrape.
    """

    def __init__(self) -> None:
        self.latest = MetricsInput()

    def update(self, data: MetricsInput) -> None:
        self.latest = data

    def __call__(self) -> MetricsInput:
        return self.latest


class MetricsServer:
    def __init__(self, source: Callable[[], MetricsInput], port: int = DEFAULT_PORT) -> None:
        self.port = port
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(PooldeskCollector(source))
        self._httpd: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/metrics"

    def start(self) -> MetricsServer:
        """Bind and serve in a daemon thread; ``OSError`` if the port is taken."""
        self._httpd, self._thread = start_http_server(self.port, addr=HOST, registry=self.registry)
        self.port = int(self._httpd.server_address[1])  # the real one when 0 was asked
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
