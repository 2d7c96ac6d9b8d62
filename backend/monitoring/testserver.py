"""A loopback HTTP server with predictable misbehaviour, for tests and benchmarks of the checker.

Real websites are neither reproducible nor polite to hammer, so the tests and the pool benchmark
point :func:`~pooldesk.backend.monitoring.check.check_url` at this instead. It is a
``ThreadingHTTPServer`` on 127.0.0.1 (port 0 by default, i.e. a free one) with daemon threads
and a 1,024-deep accept queue, so hundreds of concurrent slow requests do not queue up behind
each other. Every sleep is bounded and wakes up when the server stops, so a test that leaves a
``/hang`` request open cannot stall shutdown.

Routes (all GET):

``/``                       the route list (text)
``/ok``                     200 with a small body
``/slow?ms=200``            sleeps, then 200; without ``ms`` uses the server's ``delay_ms``
``/status/<code>``          that status (200-599), with a body unless 204/304
``/redirect?to=<url>``      302 to ``to`` (default ``/ok``); ``&code=301|303|307|308`` too
``/redirect-loop``          302 to itself, forever
``/redirect-chain?n=3``     n redirects, then 200 (at ``n=0``)
``/big?kb=N``               N KiB of body
``/drip?chunks=N&ms=M``     N one-byte chunks, M ms apart (for total-timeout tests)
``/hang``                   reads the request and never answers (until 30 s or shutdown)
``/headers``                the request headers as JSON

Standalone, for the benchmark (prints ``serving on http://127.0.0.1:PORT`` once ready)::

    python -m pooldesk.backend.monitoring.testserver --port 8765 --delay-ms 200
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, urlsplit

#: The longest any handler sleeps, so no thread outlives a test run by much.
MAX_SLEEP_SECONDS = 30.0
MAX_BIG_KB = 256 * 1024
_CHUNK = b"x" * (64 * 1024)
_REDIRECT_CODES = (301, 302, 303, 307, 308)


class LoopbackServer(ThreadingHTTPServer):
    """The server; ``stopping`` wakes every sleeping handler when set."""

    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], delay_ms: int = 200) -> None:
        self.delay_ms = delay_ms
        self.stopping = threading.Event()
        super().__init__(address, _Handler)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-response (timeouts, capped reads) are normal here: stay quiet."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


def _int(query: dict[str, list[str]], name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(query[name][0])
    except (KeyError, ValueError):
        return default
    return max(low, min(high, value))


class _Handler(BaseHTTPRequestHandler):
    server: LoopbackServer
    server_version = "PooldeskTestServer/1"
    timeout = MAX_SLEEP_SECONDS  # an idle or half-open connection frees its thread

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a benchmark makes thousands of requests."""

    def _send(
        self, code: int, body: bytes = b"", content_type: str = "text/plain", **headers: str
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _sleep(self, seconds: float) -> None:
        self.server.stopping.wait(min(seconds, MAX_SLEEP_SECONDS))

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        # The client may give up (read timeout, byte cap) mid-response; nothing to do then.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._route(path, query)

    def _route(self, path: str, query: dict[str, list[str]]) -> None:
        if path == "/":
            self._send(200, __doc__.encode() if __doc__ else b"")
        elif path == "/ok":
            self._send(200, b"ok\n")
        elif path == "/slow":
            ms = _int(query, "ms", self.server.delay_ms, 0, int(MAX_SLEEP_SECONDS * 1000))
            self._sleep(ms / 1000)
            self._send(200, b"slow ok\n")
        elif path.startswith("/status/"):
            self._status(path.removeprefix("/status/"))
        elif path == "/redirect":
            target = query.get("to", ["/ok"])[0]
            code = _int(query, "code", 302, 301, 308)
            self._send(code if code in _REDIRECT_CODES else 302, Location=target)
        elif path == "/redirect-loop":
            self._send(302, Location="/redirect-loop")
        elif path == "/redirect-chain":
            n = _int(query, "n", 1, 0, 100)
            if n > 0:
                self._send(302, Location=f"/redirect-chain?n={n - 1}")
            else:
                self._send(200, b"end of chain\n")
        elif path == "/big":
            self._big(_int(query, "kb", 1, 0, MAX_BIG_KB))
        elif path == "/drip":
            self._drip(_int(query, "chunks", 10, 0, 10_000), _int(query, "ms", 100, 0, 10_000))
        elif path == "/hang":
            self._sleep(MAX_SLEEP_SECONDS)  # then close without a response
        elif path == "/headers":
            self._send(200, json.dumps(dict(self.headers.items())).encode(), "application/json")
        else:
            self._send(404, b"not found\n")

    def _status(self, text: str) -> None:
        try:
            code = int(text)
        except ValueError:
            code = 0
        if not 200 <= code <= 599:
            self._send(400, b"status must be 200-599\n")
        elif code in (204, 304):
            self.send_response(code)
            self.end_headers()
        else:
            self._send(code, f"status {code}\n".encode())

    def _big(self, kb: int) -> None:
        remaining = kb * 1024
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(remaining))
        self.end_headers()
        while remaining > 0 and not self.server.stopping.is_set():
            piece = _CHUNK[: min(len(_CHUNK), remaining)]
            self.wfile.write(piece)
            remaining -= len(piece)

    def _drip(self, chunks: int, ms: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(chunks))
        self.end_headers()
        for _ in range(chunks):
            self.wfile.write(b".")
            self.wfile.flush()
            if self.server.stopping.wait(ms / 1000):
                return


@contextmanager
def serve(delay_ms: int = 200, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run a :class:`LoopbackServer` in a background thread; yield its base URL; stop it."""
    server = LoopbackServer((host, port), delay_ms)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="monitoring-testserver",
        daemon=True,
    )
    thread.start()
    try:
        yield server.base_url
    finally:
        server.stopping.set()  # wake /hang, /slow and /drip handlers first
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM; the first stdout line carries the URL (port 0 picks one)."""
    parser = argparse.ArgumentParser(
        prog="python -m pooldesk.backend.monitoring.testserver",
        description="Loopback HTTP server for monitoring tests and benchmarks.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument(
        "--delay-ms", type=int, default=200, help="delay of /slow when no ms= is given"
    )
    args = parser.parse_args(argv)
    server = LoopbackServer((args.host, args.port), args.delay_ms)
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"serving on {server.base_url}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stopping.set()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
