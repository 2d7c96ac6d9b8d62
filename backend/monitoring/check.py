"""Check one URL: status, timings and size, with every network failure recorded, not raised.

A monitoring run is thousands of these inside a gevent pool, so the function is written for that:

* Plain blocking I/O through ``requests``; gevent's monkeypatching turns it cooperative. No
  threads, no asyncio.
* It never raises for a network problem. A run's results are a table, and one dead host must be
  a row in it (``error_class`` + a one-line ``error``), not a task failure with a traceback.
* Every wait is bounded: a connect timeout, a read timeout per socket read, a body cap
  (:data:`MAX_BODY_BYTES`) and an overall ``total_timeout`` against servers that drip bytes.
  gevent's ``Timeout``/``GreenletExit`` are ``BaseException`` and are deliberately not caught,
  so a task can still be cancelled.
* Redirects are followed by hand so that each ``Location`` is re-validated with
  :func:`~pooldesk.backend.monitoring.urls.validate_url`: a list of https URLs must not be bounced
  into ``file:``, ``ftp:`` or a URL carrying credentials.
"""

from __future__ import annotations

import re
import ssl
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import requests
import urllib3.exceptions

from pooldesk.backend import __version__
from pooldesk.backend.monitoring.urls import redact_credentials, validate_url
from pooldesk.backend.units import KiB, MiB

USER_AGENT = f"Pooldesk/{__version__}"
DEFAULT_HEADERS: Mapping[str, str] = {"User-Agent": USER_AGENT}
#: Stop reading a body after this many bytes and mark the result ``truncated``.
MAX_BODY_BYTES = 5 * MiB
CHUNK_BYTES = 64 * KiB
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
MAX_ERROR_CHARS = 200

_OBJECT_REPR = re.compile(r"<[^<>]*? object at 0x[0-9a-fA-F]+>:?\s*")
_POOL_PREFIX = re.compile(r"\w*Connection(?:Pool)?\(host=[^)]*\):\s*")


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check; :meth:`to_dict` is what a Celery task returns (JSON only).

    ``status_code``, ``ttfb_ms`` and ``bytes`` describe the response from ``final_url``;
    ``status_code`` is ``None`` when that hop got no response. ``latency_ms`` is the wall time of
    the whole check (all redirect hops and the body); ``ttfb_ms`` is the time from sending the
    final hop's request to having its headers (it includes that hop's connect). ``bytes`` counts
    the body bytes received as sent on the wire (before gzip decoding), up to ``MAX_BODY_BYTES``;
    ``truncated`` says reading stopped there. ``ok`` is true when there was no error and the final
    status is below 400 (a 304, or a 3xx without ``Location``, counts as ok).
    """

    url: str
    final_url: str
    status_code: int | None
    ok: bool
    latency_ms: float
    ttfb_ms: float | None
    bytes: int
    truncated: bool
    redirects: int
    error_class: str | None
    error: str | None
    checked_at: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict with exactly the dataclass fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        """Rebuild a result from :meth:`to_dict` output (a Celery result); extra keys ignored."""
        return cls(**{f.name: data[f.name] for f in fields(cls)})


class _CheckFailed(Exception):
    """A failure decided by the checker itself (redirect policy, total timeout)."""

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.message = message


@dataclass
class _Progress:
    """What is known so far; kept outside the try block so a failure keeps the partial facts."""

    final_url: str
    status_code: int | None = None
    ttfb_ms: float | None = None
    bytes: int = 0
    truncated: bool = False
    redirects: int = 0


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 1)


def _root_cause(exc: BaseException) -> BaseException:
    """The urllib3/socket error inside a requests exception, which has the useful words."""
    arg = exc.args[0] if exc.args else None
    if isinstance(arg, urllib3.exceptions.MaxRetryError) and arg.reason is not None:
        return arg.reason
    if isinstance(arg, BaseException):
        return arg
    return exc


def _short_message(exc: BaseException) -> str:
    """One line, no object reprs or pool prefixes, at most :data:`MAX_ERROR_CHARS`."""
    root = _root_cause(exc)
    # urllib3 errors are often (connection, message): the message alone reads better.
    last = root.args[-1] if len(root.args) > 1 else None
    text = last if isinstance(last, str) else str(root)
    text = _POOL_PREFIX.sub("", _OBJECT_REPR.sub("", text))
    text = " ".join(redact_credentials(text).split())
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 3] + "..."
    return text or type(exc).__name__


# (exception types, error_class), most specific first: requests' ConnectTimeout and SSLError are
# also ConnectionErrors, and urllib3's errors escape unwrapped while the body is being read.
_CLASSES: tuple[tuple[tuple[type[BaseException], ...], str], ...] = (
    (
        (requests.exceptions.ConnectTimeout, urllib3.exceptions.ConnectTimeoutError),
        "ConnectTimeout",
    ),
    ((requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError), "ReadTimeout"),
    ((requests.exceptions.SSLError, urllib3.exceptions.SSLError, ssl.SSLError), "SSLError"),
    ((requests.exceptions.ProxyError, urllib3.exceptions.ProxyError), "ProxyError"),
    (
        (
            requests.exceptions.InvalidURL,
            requests.exceptions.InvalidSchema,
            requests.exceptions.MissingSchema,
            urllib3.exceptions.LocationParseError,
            UnicodeError,  # an IDNA host that the idna package refuses
        ),
        "InvalidURL",
    ),
    ((requests.exceptions.TooManyRedirects,), "TooManyRedirects"),
    ((requests.exceptions.Timeout, TimeoutError), "ReadTimeout"),
    (
        (
            requests.exceptions.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
            urllib3.exceptions.ProtocolError,
            urllib3.exceptions.NewConnectionError,
            OSError,
        ),
        "ConnectionError",
    ),
)
_NAME_RESOLUTION = getattr(urllib3.exceptions, "NameResolutionError", None)  # urllib3 >= 2


def _classify(exc: Exception) -> tuple[str, str]:
    """``(error_class, error)`` for an exception raised while checking."""
    message = _short_message(exc)
    if _NAME_RESOLUTION is not None and isinstance(_root_cause(exc), _NAME_RESOLUTION):
        return "NameResolutionError", message
    for types, name in _CLASSES:
        if isinstance(exc, types):
            return name, message
    return type(exc).__name__, message


def _read_body(
    response: requests.Response, progress: _Progress, max_bytes: int, deadline: float | None
) -> None:
    """Count body bytes as received (no decoding), stopping at *max_bytes* or the deadline."""
    raw = response.raw
    # read1 returns whatever has arrived, so the deadline is checked even for a dripping body;
    # urllib3 1.26 lacks it, where read(amt) waits for a full chunk instead.
    read = getattr(raw, "read1", None) or raw.read
    while True:
        if deadline is not None and time.perf_counter() > deadline:
            raise _CheckFailed("TotalTimeout", "body still arriving when the total timeout ran out")
        chunk = read(min(CHUNK_BYTES, max_bytes - progress.bytes + 1), decode_content=False)
        if not chunk:
            return
        progress.bytes += len(chunk)
        if progress.bytes > max_bytes:
            progress.bytes = max_bytes
            progress.truncated = True
            return


def _follow(
    session: requests.Session,
    progress: _Progress,
    timeout: tuple[float, float],
    max_redirects: int,
    max_bytes: int,
    deadline: float | None,
) -> None:
    """GET ``progress.final_url``, following redirects by hand, and read the final body."""
    while True:
        if deadline is not None and time.perf_counter() > deadline:
            raise _CheckFailed("TotalTimeout", "total timeout ran out while following redirects")
        current = progress.final_url
        progress.status_code = progress.ttfb_ms = None  # they describe final_url's response
        hop_started = time.perf_counter()
        response = session.get(
            current, headers=DEFAULT_HEADERS, timeout=timeout, allow_redirects=False, stream=True
        )
        with response:  # closes the connection; redirect bodies are not worth reading
            progress.ttfb_ms = _ms(time.perf_counter() - hop_started)
            progress.status_code = response.status_code
            target = (
                session.get_redirect_target(response)
                if response.status_code in REDIRECT_CODES
                else None
            )
            if not target:
                _read_body(response, progress, max_bytes, deadline)
                return
            if progress.redirects >= max_redirects:
                raise _CheckFailed(
                    "TooManyRedirects",
                    f"more than {max_redirects} redirect{'s' if max_redirects != 1 else ''}",
                )
            location = urljoin(current, target)
            try:
                next_url = validate_url(location)
            except ValueError as exc:
                shown = redact_credentials(location)
                if len(shown) > 80:
                    shown = shown[:77] + "..."
                raise _CheckFailed(
                    "UnsafeRedirect", f"redirect to {shown!r} refused: {exc}"
                ) from None
            progress.redirects += 1
            progress.final_url = next_url


def check_url(
    url: str,
    connect_timeout: float = 3.0,
    read_timeout: float = 10.0,
    max_redirects: int = 5,
    session: requests.Session | None = None,
    *,
    max_bytes: int = MAX_BODY_BYTES,
    total_timeout: float | None = 60.0,
) -> CheckResult:
    """GET *url* and describe what happened; network problems are recorded, never raised.

    Raises ``ValueError`` only for an invalid *url* or invalid limits. Pass a *session* to reuse
    connections across checks (one per greenlet group); by default each check uses, and closes,
    its own session. The session's environment handling (proxies, CA bundle) applies.
    Redirects are followed by hand; one more than *max_redirects* (any, when it is 0) is
    recorded as ``TooManyRedirects``, a ``Location`` that fails :func:`validate_url` as
    ``UnsafeRedirect``. ``total_timeout`` (``None`` for no limit) caps the whole check; it is
    checked between hops and body chunks, so the worst case is ``total_timeout + read_timeout``.
    """
    start_url = validate_url(url)
    if connect_timeout <= 0 or read_timeout <= 0:
        raise ValueError("connect_timeout and read_timeout must be positive")
    if max_redirects < 0:
        raise ValueError("max_redirects must not be negative")
    if max_bytes < 0:
        raise ValueError("max_bytes must not be negative")
    if total_timeout is not None and total_timeout <= 0:
        raise ValueError("total_timeout must be positive or None")

    checked_at = datetime.now(UTC).isoformat(timespec="milliseconds")
    started = time.perf_counter()
    deadline = None if total_timeout is None else started + total_timeout
    progress = _Progress(final_url=start_url)
    error_class: str | None = None
    error: str | None = None
    timeout = (connect_timeout, read_timeout)
    try:
        if session is None:
            with requests.Session() as own:
                _follow(own, progress, timeout, max_redirects, max_bytes, deadline)
        else:
            _follow(session, progress, timeout, max_redirects, max_bytes, deadline)
    except _CheckFailed as exc:
        error_class, error = exc.error_class, exc.message
    except Exception as exc:  # recorded, not raised: see the module docstring
        error_class, error = _classify(exc)

    status = progress.status_code
    return CheckResult(
        url=start_url,
        final_url=progress.final_url,
        status_code=status,
        ok=error_class is None and status is not None and status < 400,
        latency_ms=_ms(time.perf_counter() - started),
        ttfb_ms=progress.ttfb_ms,
        bytes=progress.bytes,
        truncated=progress.truncated,
        redirects=progress.redirects,
        error_class=error_class,
        error=error,
        checked_at=checked_at,
    )
