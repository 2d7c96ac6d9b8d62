"""The worker state machine: the derivation from facts, and every edge of ``TRANSITIONS``.

The edges are written out here on purpose (not read from ``TRANSITIONS``): changing the state
machine must change this table too. Each allowed edge is also *produced by the derivation*
from two sets of facts, so no documented edge is dead and the check accepts what it derives.
"""

from __future__ import annotations

import itertools
import logging

import pytest

from pooldesk.backend.workers.states import (
    TRANSITIONS,
    Facts,
    TransitionCheck,
    WorkerState,
    allowed,
    derive,
)

S = WorkerState
EDGES = {
    (S.STARTING, S.ONLINE),  # answered ping
    (S.STARTING, S.CRASHED),  # exited while starting, not asked
    (S.STARTING, S.STOPPING),  # stopped before it answered
    (S.STARTING, S.STOPPED),  # clean exit (broadcast shutdown) before a poll saw it online
    (S.ONLINE, S.STOPPING),  # stop requested, finishing its tasks
    (S.ONLINE, S.CRASHED),  # exited without being asked
    (S.ONLINE, S.STOPPED),  # clean exit, e.g. another tool's shutdown
    (S.STOPPING, S.STOPPED),  # went away because we asked
    (S.STOPPING, S.CRASHED),  # died without the record of our request (record replaced)
    (S.STOPPED, S.STARTING),  # start / restart
    (S.CRASHED, S.STARTING),  # start / restart, or the supervisor's automatic restart
}
# Facts that derive each state (the second CRASHED variant: the stop request is gone).
FACTS = {
    S.STARTING: Facts(True, False, False, None, False),
    S.ONLINE: Facts(True, False, True, None, False),
    S.STOPPING: Facts(True, True, True, None, False),
    S.STOPPED: Facts(False, True, True, 0, True),
    S.CRASHED: Facts(False, False, True, 1, True),
}


def test_the_table_is_transitions() -> None:
    documented = {(old, new) for old, targets in TRANSITIONS.items() for new in targets}
    assert documented == EDGES
    assert set(TRANSITIONS) == set(WorkerState)
    assert TRANSITIONS[S.REMOTE] == frozenset()  # a remote worker never becomes a local one


@pytest.mark.parametrize(("state", "facts"), FACTS.items(), ids=lambda v: str(v)[:20])
def test_each_state_has_facts_that_derive_it(state: WorkerState, facts: Facts) -> None:
    assert derive(facts) == state


@pytest.mark.parametrize(("old", "new"), sorted(EDGES), ids=lambda s: s.value)
def test_every_allowed_edge_is_derived_and_accepted(
    old: WorkerState, new: WorkerState, caplog: pytest.LogCaptureFixture
) -> None:
    check = TransitionCheck()
    with caplog.at_level(logging.WARNING, "pooldesk.backend.workers.states"):
        assert check.observe("w", derive(FACTS[old])) == old
        assert check.observe("w", derive(FACTS[new])) == new
        assert check.observe("w", new) == new  # staying is always fine
    assert allowed(old, new)
    assert check.illegal == [] and not caplog.records


FORBIDDEN = [
    (S.ONLINE, S.STARTING),  # a crash and an automatic restart between two polls
    (S.STOPPED, S.ONLINE),  # started elsewhere (the CLI) and online before the next poll
    (S.STOPPED, S.STOPPING),
    (S.STOPPED, S.CRASHED),
    (S.CRASHED, S.ONLINE),
    (S.CRASHED, S.STOPPED),
    (S.STOPPING, S.ONLINE),
    (S.STOPPING, S.STARTING),
    (S.ONLINE, S.REMOTE),
    (S.REMOTE, S.ONLINE),
]


@pytest.mark.parametrize(("old", "new"), FORBIDDEN, ids=lambda s: s.value)
def test_a_forbidden_edge_is_logged_and_the_observed_state_kept(
    old: WorkerState, new: WorkerState, caplog: pytest.LogCaptureFixture
) -> None:
    assert not allowed(old, new)
    check = TransitionCheck()
    check.observe("w", old)
    with caplog.at_level(logging.WARNING, "pooldesk.backend.workers.states"):
        assert check.observe("w", new) == new  # never refused: the facts are the truth
    assert check.illegal == [("w", old, new)]
    (record,) = caplog.records
    assert f"{old.value} → {new.value}" in record.getMessage()


def test_all_pairs_split_into_allowed_and_forbidden() -> None:
    for old, new in itertools.product(WorkerState, repeat=2):
        assert allowed(old, new) == (old == new or (old, new) in EDGES)
    assert allowed(None, S.CRASHED)  # a first sighting is never a transition


def test_forget_makes_the_next_sighting_a_first_one() -> None:
    check = TransitionCheck()
    check.observe("w", S.ONLINE)
    check.forget("w")
    check.observe("w", S.STARTING)
    check.observe("other", S.STOPPED)  # per worker
    assert check.illegal == []


def test_the_derivation_rules() -> None:
    for alive, asked, answered, code, seen in itertools.product(
        (True, False), (True, False), (True, False), (None, 0, 1, -9), (True, False)
    ):
        state = derive(Facts(alive, asked, answered, code, seen))
        if alive:
            expected = (
                S.STOPPING if asked else (S.ONLINE if answered else S.STARTING)
            )  # asked to stop, still finishing its tasks
        elif asked or (seen and code == 0):
            expected = S.STOPPED
        else:
            expected = S.CRASHED
        assert state == expected
