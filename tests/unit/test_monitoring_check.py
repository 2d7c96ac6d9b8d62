"""check_url against a real HTTP server on loopback, plus the gevent behaviour it exists for.

The gevent test monkeypatches a *subprocess*: patching the pytest process would turn every
thread and socket in it (the test server included) into greenlets for the rest of the session.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from pooldesk.backend import __version__
from pooldesk.backend.monitoring import check as check_module
from pooldesk.backend.monitoring.check import USER_AGENT, CheckResult, check_url
from pooldesk.backend.monitoring.testserver import serve

REPO = Path(__file__).resolve().parents[2]
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with serve(delay_ms=100) as url:
        yield url


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy from the environment would swallow loopback requests."""
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


# --- responses -----------------------------------------------------------------------------------


def test_ok_counts_bytes_and_times(base: str) -> None:
    result = check_url(f"{base}/ok")
    assert result.ok
    assert result.status_code == 200
    assert result.bytes == len(b"ok\n")
    assert result.final_url == result.url == f"{base}/ok"
    assert result.redirects == 0
    assert result.error_class is None and result.error is None
    assert result.ttfb_ms is not None and 0 <= result.ttfb_ms <= result.latency_ms


def test_big_body_is_counted_and_capped(base: str) -> None:
    result = check_url(f"{base}/big?kb=100")
    assert (result.bytes, result.truncated, result.ok) == (100 * 1024, False, True)
    capped = check_url(f"{base}/big?kb=100", max_bytes=10_000)
    assert (capped.bytes, capped.truncated, capped.ok) == (10_000, True, True)


def test_slow_response_ttfb(base: str) -> None:
    result = check_url(f"{base}/slow?ms=200")
    assert result.ok
    assert result.ttfb_ms is not None and result.ttfb_ms >= 190


@pytest.mark.parametrize(("code", "ok"), [(404, False), (500, False), (503, False), (204, True)])
def test_status_codes_are_recorded(base: str, code: int, ok: bool) -> None:
    result = check_url(f"{base}/status/{code}")
    assert result.status_code == code
    assert result.ok is ok
    assert result.error_class is None  # an HTTP error status is an answer, not a network error


def test_final_3xx_without_location_is_ok(base: str) -> None:
    for code in (304, 301):
        result = check_url(f"{base}/status/{code}")
        assert (result.status_code, result.ok, result.redirects) == (code, True, 0)


# --- redirects -----------------------------------------------------------------------------------


def test_relative_redirect_is_followed(base: str) -> None:
    result = check_url(f"{base}/redirect?to=/big%3Fkb%3D2")
    assert result.ok
    assert result.final_url == f"{base}/big?kb=2"
    assert (result.redirects, result.status_code, result.bytes) == (1, 200, 2048)


def test_absolute_redirect_is_followed(base: str) -> None:
    result = check_url(f"{base}/redirect?to={base}/status/404&code=301")
    assert result.final_url == f"{base}/status/404"
    assert (result.redirects, result.status_code, result.ok) == (1, 404, False)


@pytest.mark.parametrize(
    "target", ["ftp://example.com/x", "file:///etc/passwd", "javascript:alert(1)"]
)
def test_redirect_to_other_scheme_is_refused(base: str, target: str) -> None:
    result = check_url(f"{base}/redirect?to={target}")
    assert result.error_class == "UnsafeRedirect"
    assert not result.ok
    assert result.status_code == 302
    assert result.final_url == f"{base}/redirect?to={target}"  # never left the server
    assert result.error is not None and "only http and https" in result.error


def test_redirect_with_credentials_is_refused_without_echoing_them(base: str) -> None:
    result = check_url(f"{base}/redirect?to=http://bob:hunter2@example.com/")
    assert result.error_class == "UnsafeRedirect"
    assert result.error is not None and "hunter2" not in result.error


def test_redirect_loop_is_too_many_redirects(base: str) -> None:
    result = check_url(f"{base}/redirect-loop")
    assert (result.error_class, result.redirects, result.ok) == ("TooManyRedirects", 5, False)
    assert result.error == "more than 5 redirects"
    assert check_url(f"{base}/redirect-loop", max_redirects=2).redirects == 2


def test_max_redirects_boundary(base: str) -> None:
    exact = check_url(f"{base}/redirect-chain?n=3", max_redirects=3)
    assert (exact.ok, exact.redirects, exact.final_url) == (True, 3, f"{base}/redirect-chain?n=0")
    over = check_url(f"{base}/redirect-chain?n=4", max_redirects=3)
    assert over.error_class == "TooManyRedirects"
    none = check_url(f"{base}/redirect?to=/ok", max_redirects=0)
    assert (none.error_class, none.redirects, none.status_code) == ("TooManyRedirects", 0, 302)


# --- network failures ----------------------------------------------------------------------------


def test_read_timeout_waiting_for_headers(base: str) -> None:
    started = time.monotonic()
    result = check_url(f"{base}/hang", read_timeout=0.3)
    assert time.monotonic() - started < 5
    assert result.error_class == "ReadTimeout"
    assert (result.status_code, result.ttfb_ms, result.ok) == (None, None, False)
    assert result.error is not None and "object at 0x" not in result.error


def test_read_timeout_while_reading_the_body(base: str) -> None:
    result = check_url(f"{base}/drip?chunks=5&ms=2000", read_timeout=0.3)
    assert result.error_class == "ReadTimeout"
    assert (result.status_code, result.bytes, result.ok) == (200, 1, False)


def test_total_timeout_stops_a_dripping_body(base: str) -> None:
    started = time.monotonic()
    result = check_url(f"{base}/drip?chunks=100&ms=50", total_timeout=0.5)
    assert time.monotonic() - started < 3
    assert (result.error_class, result.status_code, result.ok) == ("TotalTimeout", 200, False)
    assert 0 < result.bytes < 100


def test_connection_refused() -> None:
    result = check_url(f"http://127.0.0.1:{_closed_port()}/")
    assert result.error_class == "ConnectionError"
    assert (result.status_code, result.ok) == (None, False)
    assert result.error is not None and "refused" in result.error.lower()
    assert "object at 0x" not in result.error and "\n" not in result.error


def test_tls_to_a_plain_http_server_is_ssl_error(base: str) -> None:
    result = check_url(base.replace("http://", "https://") + "/ok")
    assert result.error_class == "SSLError"


class _RaisingSession(requests.Session):
    def __init__(self, exc: Exception) -> None:
        super().__init__()
        self.exc = exc

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "error_class"),
    [
        (requests.exceptions.ConnectTimeout("connect timed out"), "ConnectTimeout"),
        (requests.exceptions.SSLError("certificate verify failed"), "SSLError"),
        (requests.exceptions.ProxyError("proxy said no"), "ProxyError"),
        (requests.exceptions.InvalidURL("bad label"), "InvalidURL"),
        (requests.exceptions.ConnectionError("reset"), "ConnectionError"),
        (RuntimeError("unexpected"), "RuntimeError"),
    ],
)
def test_exceptions_are_recorded_not_raised(exc: Exception, error_class: str) -> None:
    with _RaisingSession(exc) as session:
        result = check_url("http://example.invalid/", session=session)
    assert (result.error_class, result.ok, result.status_code) == (error_class, False, None)
    assert result.error


def test_invalid_input_raises_value_error() -> None:
    with pytest.raises(ValueError, match="only http and https"):
        check_url("ftp://example.com/")
    with pytest.raises(ValueError):
        check_url("http://example.com/", read_timeout=0)
    with pytest.raises(ValueError):
        check_url("http://example.com/", max_redirects=-1)


# --- the result and the request ------------------------------------------------------------------


def test_result_is_json_and_round_trips(base: str) -> None:
    result = check_url(f"{base}/redirect?to=/ok")
    data = json.loads(json.dumps(result.to_dict()))
    assert set(data) == {
        "url", "final_url", "status_code", "ok", "latency_ms", "ttfb_ms", "bytes",
        "truncated", "redirects", "error_class", "error", "checked_at",
    }  # fmt: skip
    assert CheckResult.from_dict(data) == result
    assert datetime.fromisoformat(data["checked_at"]).utcoffset() == timedelta(0)


class _RecordingSession(requests.Session):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.sent.append(request)
        return super().send(request, **kwargs)


def test_user_agent_and_caller_session(base: str) -> None:
    assert f"Pooldesk/{__version__}" == USER_AGENT
    with _RecordingSession() as session:
        for _ in range(2):
            assert check_url(f"{base}/redirect?to=/ok", session=session).ok
    assert len(session.sent) == 4  # redirects are followed by check_url, not by requests
    assert all(r.headers["User-Agent"] == USER_AGENT for r in session.sent)
    assert all(r.method == "GET" for r in session.sent)


def test_default_max_body_is_five_mb() -> None:
    assert check_module.MAX_BODY_BYTES == 5 * 1024 * 1024


# --- the test server -----------------------------------------------------------------------------


def test_serve_shuts_down_promptly_with_a_hanging_request_open() -> None:
    with serve() as url:
        host, port = url.removeprefix("http://").split(":")
        client = socket.create_connection((host, int(port)))
        client.sendall(b"GET /hang HTTP/1.0\r\n\r\n")
        # Connections are accepted in order, each handed to its thread before the next accept:
        # once /ok has answered, the /hang connection belongs to a handler thread.
        assert check_url(f"{url}/ok").ok
        started = time.monotonic()
    try:
        assert time.monotonic() - started < 3
        client.settimeout(3)
        assert client.recv(100) == b""  # closed without an answer
    finally:
        client.close()


def test_standalone_server_starts_serves_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pooldesk.backend.monitoring.testserver", "--delay-ms", "50"],
        cwd=REPO,
        env=_clean_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("serving on http://127.0.0.1:")
        url = line.removeprefix("serving on ")
        result = check_url(f"{url}/slow")
        assert result.ok and result.ttfb_ms is not None and result.ttfb_ms >= 45
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- gevent --------------------------------------------------------------------------------------

GEVENT_SCRIPT = r"""
from gevent import monkey

monkey.patch_all()

import json
import sys
import time

import gevent

from pooldesk.backend.monitoring.check import check_url

base, n, ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
started = time.perf_counter()
jobs = [gevent.spawn(check_url, f"{base}/slow?ms={ms}") for _ in range(n)]
gevent.joinall(jobs, timeout=60, raise_error=True)
print(json.dumps({
    "elapsed": time.perf_counter() - started,
    "patched": monkey.is_module_patched("socket"),
    "results": [job.value.to_dict() for job in jobs],
}))
"""


def _run_gevent_checks(base: str, n: int, ms: int) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", GEVENT_SCRIPT, base, str(n), str(ms)],
        cwd=REPO,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    assert data["patched"]
    assert len(data["results"]) == n
    assert all(r["ok"] and r["status_code"] == 200 for r in data["results"]), data["results"]
    return data


def test_concurrent_checks_under_gevent(base: str) -> None:
    data = _run_gevent_checks(base, n=20, ms=300)
    assert data["elapsed"] < 3, data["elapsed"]  # serial would be 20 x 0.3 s = 6 s


def test_standalone_server_handles_200_concurrent_slow_requests() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pooldesk.backend.monitoring.testserver", "--delay-ms", "300"],
        cwd=REPO,
        env=_clean_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().removeprefix("serving on ")
        data = _run_gevent_checks(url, n=200, ms=300)
        assert data["elapsed"] < 5, data["elapsed"]  # serial would be 60 s
    finally:
        proc.terminate()
        proc.wait(timeout=10)
