"""Signed envelopes: every way a command can be wrong is refused, with its reason."""

from __future__ import annotations

import json

import pytest

from pooldesk.backend.fleet.sign import (
    EXPIRED,
    FUTURE,
    MALFORMED,
    REPLAY,
    SIGNATURE,
    WRONG_HOST,
    Refused,
    ReplayCache,
    Verifier,
    canonical,
    seal,
)

KEY = bytes.fromhex("11" * 32)
OTHER = bytes.fromhex("22" * 32)
NOW = 1_800_000_000.0


def verifier(host: str = "h1", window: float = 30.0) -> Verifier:
    return Verifier(KEY, host, window, clock=lambda: NOW)


def command(**kw: object) -> dict:
    args = {"host": "h1", "sender": "panel", "op": "worker", "params": {"name": "w1"}}
    args.update(kw)
    return seal(KEY, ts=NOW, reply_to="reply.abcdef0123", **args)  # type: ignore[arg-type]


def reason(v: Verifier, raw: object) -> str:
    with pytest.raises(Refused) as info:
        v.check(raw)  # type: ignore[arg-type]
    return info.value.reason


def test_a_good_command_passes_as_dict_bytes_and_text() -> None:
    body = command()
    assert verifier().check(body)["params"] == {"name": "w1"}
    assert verifier().check(json.dumps(body).encode())["op"] == "worker"
    assert verifier().check(json.dumps(body))["host"] == "h1"


def test_canonical_json_is_sorted_and_compact() -> None:
    assert canonical({"b": 1, "a": [1, 2]}) == b'{"a":[1,2],"b":1}'


def test_another_key_is_a_bad_signature_with_no_envelope_to_answer() -> None:
    body = seal(OTHER, "h1", "panel", "worker", {}, reply_to="reply.abcdef0123", ts=NOW)
    with pytest.raises(Refused) as info:
        verifier().check(body)
    assert info.value.reason == SIGNATURE
    assert info.value.envelope is None  # not trusted: never answered


def test_any_changed_field_breaks_the_signature() -> None:
    for field, value in (("params", {"name": "w2"}), ("op", "x"), ("ts", NOW + 1)):
        body = command()
        body[field] = value
        assert reason(verifier(), body) == SIGNATURE
    body = command()
    body["reply_to"] = "reply.ffffffff00"
    assert reason(verifier(), body) == SIGNATURE


def test_old_and_future_timestamps_are_refused_at_the_window() -> None:
    v = verifier(window=30)
    assert v.check(seal(KEY, "h1", "p", "worker", {}, ts=NOW - 29.9))
    assert reason(v, seal(KEY, "h1", "p", "worker", {}, ts=NOW - 30.1)) == EXPIRED
    assert reason(v, seal(KEY, "h1", "p", "worker", {}, ts=NOW + 30.1)) == FUTURE
    assert verifier(window=120).check(seal(KEY, "h1", "p", "worker", {}, ts=NOW - 100))


def test_a_replayed_nonce_is_refused_and_the_refusal_can_be_answered() -> None:
    v = verifier()
    body = command()
    v.check(body)
    with pytest.raises(Refused) as info:
        v.check(dict(body))
    assert info.value.reason == REPLAY
    assert info.value.envelope is not None and info.value.envelope["reply_to"]


def test_a_command_for_another_host_is_refused() -> None:
    assert reason(verifier("h2"), command()) == WRONG_HOST


def test_a_bad_signature_does_not_use_up_the_nonce() -> None:
    v = verifier()
    good = command()
    forged = dict(good, sig="0" * 64)
    assert reason(v, forged) == SIGNATURE
    assert v.check(good)  # the forger did not burn the real command's nonce


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"\xff\xfe",
        "[1, 2]",
        "null",
        {"v": 1},
        {**seal(KEY, "h1", "p", "worker", {}), "v": 2},
        {**seal(KEY, "h1", "p", "worker", {}), "params": []},
        {**seal(KEY, "h1", "p", "worker", {}), "ts": True},
        {**seal(KEY, "h1", "p", "worker", {}), "host": "bad host/../x"},
        {k: v for k, v in seal(KEY, "h1", "p", "worker", {}).items() if k != "sig"},
    ],
)
def test_malformed_input_is_refused_as_malformed(raw: object) -> None:
    assert reason(verifier(), raw) == MALFORMED


def test_the_replay_cache_forgets_old_nonces_and_stays_bounded() -> None:
    cache = ReplayCache(window=30, capacity=3)
    assert cache.add("a", 0) and not cache.add("a", 1)
    assert cache.add("b", 100)  # "a" is older than twice the window: dropped
    assert cache.add("a", 100)
    for n in "cdef":
        cache.add(n, 101)
    assert len(cache) == 3
