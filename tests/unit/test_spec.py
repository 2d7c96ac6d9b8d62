"""Worker specs: every bad input gets a clear message, good input passes untouched."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pooldesk.backend.workers.spec import (
    DEFAULT_APP,
    GEVENT_MAX,
    POOLS,
    SpecError,
    WorkerSpec,
    available_pools,
    cores,
    parse_autoscale,
    parse_queues,
)


def test_valid_specs_pass() -> None:
    WorkerSpec("inv-1", "prefork", 2, ("invoices",)).validate()
    WorkerSpec("g.1", "gevent", GEVENT_MAX, ("monitoring", "default")).validate()
    WorkerSpec("s", "solo", 1, ("default",)).validate()
    WorkerSpec("a", "prefork", 4, ("q",), autoscale=(8, 2)).validate()


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (WorkerSpec("a b", "prefork", 1, ("q",)), "name 'a b'"),
        (WorkerSpec("x@h", "prefork", 1, ("q",)), "no '@'"),
        (WorkerSpec("w", "eventlet", 1, ("q",)), "choose one of prefork, gevent"),
        (WorkerSpec("w", "prefork", 0, ("q",)), "must be a whole number >= 1"),
        (WorkerSpec("w", "gevent", GEVENT_MAX + 1, ("q",)), "gevent allows at most 10,000"),
        (WorkerSpec("w", "solo", 4, ("q",)), "exactly one task at a time"),
        (WorkerSpec("w", "prefork", 1, ()), "at least one queue"),
        (WorkerSpec("w", "prefork", 1, ("in voices",)), "queue 'in voices'"),
        (WorkerSpec("w", "prefork", 1, ("q", "q")), "listed twice"),
        (WorkerSpec("w", "threads", 2, ("q",), autoscale=(4, 1)), "cannot grow or shrink"),
        (WorkerSpec("w", "prefork", 2, ("q",), autoscale=(1, 4)), "min <= max"),
        (WorkerSpec("w", "prefork", 1, ("q",), app="rm -rf /"), "import path"),
    ],
)
def test_invalid_specs_say_why(spec: WorkerSpec, fragment: str) -> None:
    with pytest.raises(SpecError) as err:
        spec.validate()
    assert fragment in str(err.value)


def test_all_problems_reported_at_once() -> None:
    problems = WorkerSpec("a b", "nope", 0, ("x y",)).problems()
    assert len(problems) == 4


def test_prefork_far_above_cores_warns_but_is_allowed() -> None:
    spec = WorkerSpec("w", "prefork", 4 * cores() + 1, ("q",)).validate()
    assert any("cores" in w for w in spec.warnings())
    assert WorkerSpec("w", "prefork", cores(), ("q",)).warnings() == []


def test_parsers() -> None:
    assert parse_queues(" invoices, default ,,") == ("invoices", "default")
    assert parse_autoscale("8,2") == (8, 2)
    with pytest.raises(SpecError, match="max,min"):
        parse_autoscale("eight")


@settings(max_examples=300, deadline=None)
@given(
    name=st.text(max_size=70),
    pool=st.one_of(st.sampled_from(POOLS), st.text(max_size=10)),
    concurrency=st.one_of(st.integers(-5, 20_000), st.booleans(), st.floats(allow_nan=True)),
    queues=st.lists(st.text(max_size=20), max_size=4),
)
def test_any_input_is_either_valid_or_explained(name, pool, concurrency, queues) -> None:  # type: ignore[no-untyped-def]
    spec = WorkerSpec(name, pool, concurrency, tuple(queues))
    problems = spec.problems()
    if problems:
        assert all(isinstance(p, str) and p for p in problems)
        with pytest.raises(SpecError):
            spec.validate()
    else:
        assert spec.validate() is spec
        assert isinstance(concurrency, int) and concurrency >= 1


def test_prefork_is_refused_on_windows_with_the_reason_and_the_alternative() -> None:
    spec = WorkerSpec(name="inv", pool="prefork", concurrency=2, queues=("invoices",))
    assert spec.problems(platform="linux") == []
    (problem,) = spec.problems(platform="win32")
    assert "prefork" in problem and "fork()" in problem and "solo" in problem
    assert "prefork" not in available_pools("win32")
    assert available_pools("linux") == POOLS
    for pool in ("solo", "threads", "gevent"):
        conc = 1 if pool == "solo" else 4
        assert WorkerSpec(name="w", pool=pool, concurrency=conc).problems(platform="win32") == []


def test_a_record_saved_before_the_pooldesk_namespace_restarts_the_demo_app() -> None:
    """Records written by 0.1 name the demo app ``backend.celery_app:app``; that module is now
    ``pooldesk.backend.celery_app``, and a restart must not die on the old name."""
    old = WorkerSpec.from_dict({"name": "w1", "app": "backend.celery_app:app"})
    assert old.app == DEFAULT_APP == "pooldesk.backend.celery_app:app"
    theirs = WorkerSpec.from_dict({"name": "w2", "app": "proj.celery:app"})
    assert theirs.app == "proj.celery:app"
