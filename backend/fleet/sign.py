"""Signed envelopes: every command and every reply carries an HMAC-SHA256 of its canonical JSON.

An envelope is ``{v, id, ts, host, sender, op, params, reply_to}`` plus ``sig``: ``id`` is a
fresh nonce (uuid4 hex), ``ts`` the sender's clock, ``host`` the target. The signature covers
every other field (``json.dumps(sort_keys=True, separators=(",", ":"))``), so nothing can be
changed in transit. :class:`Verifier` checks, in this order: the JSON and its shape, the
signature (``hmac.compare_digest``), the target host, the timestamp (± ``window`` seconds) and
the nonce (not seen within the window: a bounded :class:`ReplayCache`). Only then is an envelope
trusted; a nonce is remembered only once the signature is good, so a forger cannot fill the
cache. A command older than the window is refused even if it never ran (a durable queue keeps
commands for a briefly-down agent; the timestamp rule expires them).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

VERSION = 1
WINDOW_S = 30.0
HOST_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
FIELDS: dict[str, type | tuple[type, ...]] = {
    "v": int,
    "id": str,
    "ts": (int, float),
    "host": str,
    "sender": str,
    "op": str,
    "params": dict,
    "reply_to": (str, type(None)),
}

# Why an envelope was refused. The first two are not answered (see ``agent``): without a good
# signature nothing in the envelope can be trusted, not even where to answer.
MALFORMED = "malformed"
SIGNATURE = "signature"
WRONG_HOST = "wrong_host"
EXPIRED = "expired"
FUTURE = "future"
REPLAY = "replay"
UNANSWERED = (MALFORMED, SIGNATURE)


class Refused(Exception):
    """An envelope that is not trusted: ``reason`` (one of the constants above) and a message
    safe to log (no key, no params)."""

    def __init__(self, reason: str, message: str, envelope: dict[str, Any] | None = None):
        super().__init__(message)
        self.reason = reason
        self.envelope = envelope  # set once the signature was good (so a reply can be sent)


def canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def signature(key: bytes, body: dict[str, Any]) -> str:
    unsigned = {k: v for k, v in body.items() if k != "sig"}
    return hmac.new(key, canonical(unsigned), hashlib.sha256).hexdigest()


def seal(
    key: bytes,
    host: str,
    sender: str,
    op: str,
    params: dict[str, Any],
    reply_to: str | None = None,
    ts: float | None = None,
    nonce: str | None = None,
) -> dict[str, Any]:
    """A signed envelope ready to publish as JSON."""
    body: dict[str, Any] = {
        "v": VERSION,
        "id": nonce or uuid.uuid4().hex,
        "ts": time.time() if ts is None else ts,
        "host": host,
        "sender": sender,
        "op": op,
        "params": params,
        "reply_to": reply_to,
    }
    body["sig"] = signature(key, body)
    return body


class ReplayCache:
    """Nonces seen within the window, oldest first, at most ``capacity`` of them.

    Entries older than the window are dropped as new ones come (a replayed envelope that old is
    refused by its timestamp anyway). Past ``capacity`` the oldest goes: at the 4 commands a
    second a busy panel sends, 100,000 entries hold far more than a 30-s window.
    """

    def __init__(self, window: float = WINDOW_S, capacity: int = 100_000) -> None:
        self.window = window
        self.capacity = capacity
        self._seen: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def add(self, nonce: str, now: float) -> bool:
        """Remember ``nonce``; False if it was already seen (a replay)."""
        horizon = now - 2 * self.window  # both edges of ± window, with room
        while self._seen and (
            next(iter(self._seen.values())) < horizon or len(self._seen) >= self.capacity
        ):
            self._seen.popitem(last=False)
        if nonce in self._seen:
            return False
        self._seen[nonce] = now
        return True


@dataclass
class Verifier:
    """Checks envelopes addressed to ``host`` (None: any host, the panel reading replies)."""

    key: bytes
    host: str | None
    window: float = WINDOW_S
    clock: Callable[[], float] = time.time
    cache: ReplayCache | None = None

    def __post_init__(self) -> None:
        if self.cache is None:
            self.cache = ReplayCache(self.window)

    def check(self, raw: bytes | str | dict[str, Any]) -> dict[str, Any]:
        """The trusted envelope, or :class:`Refused`."""
        body = _parse(raw)
        good = signature(self.key, body)
        if not hmac.compare_digest(good, str(body.get("sig", ""))):
            raise Refused(SIGNATURE, f"bad signature from sender {_safe(body.get('sender'))}")
        if self.host is not None and body["host"] != self.host:
            raise Refused(WRONG_HOST, f"addressed to host {_safe(body['host'])}", body)
        now = self.clock()
        age = now - float(body["ts"])
        if age > self.window:
            raise Refused(EXPIRED, f"sent {age:.0f} s ago (limit {self.window:.0f} s)", body)
        if age < -self.window:
            raise Refused(FUTURE, f"timestamp {-age:.0f} s in the future", body)
        assert self.cache is not None
        if not self.cache.add(body["id"], now):
            raise Refused(REPLAY, f"nonce {body['id'][:12]} already seen (a replay)", body)
        return body


def _parse(raw: bytes | str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(raw, bytes | str):
        try:
            raw = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise Refused(MALFORMED, "not JSON") from None
    if not isinstance(raw, dict):
        raise Refused(MALFORMED, "not a JSON object")
    for name, kind in FIELDS.items():
        value = raw.get(name)
        if name not in raw or isinstance(value, bool) or not isinstance(value, kind):
            raise Refused(MALFORMED, f"field {name!r} missing or of the wrong type")
    if raw["v"] != VERSION:
        raise Refused(MALFORMED, f"envelope version {raw['v']} (this Pooldesk reads {VERSION})")
    if not isinstance(raw.get("sig"), str):
        raise Refused(MALFORMED, "no signature")
    if not HOST_RE.match(raw["host"]) or not HOST_RE.match(raw["sender"]):
        raise Refused(MALFORMED, "host or sender is not a valid name")
    if not 1 <= len(raw["id"]) <= 64:
        raise Refused(MALFORMED, "id must be 1-64 characters")
    return raw


def _safe(value: Any) -> str:
    """A sender/host name for a log line: only valid names are repeated as they are."""
    return str(value) if isinstance(value, str) and HOST_RE.match(value) else "(invalid)"
