"""Warnings that appear and clear by themselves, without flapping.

A condition must hold for ``raise_after`` consecutive evaluations before its warning shows, and
be gone for ``clear_after`` before it disappears (as circus's flapping/resource watchers do).
Critical advice about the broker shows at once: there is nothing to smooth.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from pooldesk.backend.advisor.model import Advice, Observations, Thresholds
from pooldesk.backend.advisor.rules import evaluate

IMMEDIATE = frozenset({"broker_unreachable", "crash_loop", "crashed"})


@dataclass
class Update:
    current: list[Advice]
    appeared: list[Advice] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)


class Advisor:
    def __init__(self, thresholds: Thresholds | None = None) -> None:
        self.thresholds = thresholds or Thresholds()
        self._seen: dict[str, int] = {}  # id -> consecutive evaluations it held
        self._missing: dict[str, int] = {}  # id -> consecutive evaluations it was gone
        self._shown: dict[str, Advice] = {}

    def update(self, obs: Observations) -> Update:
        th = self.thresholds
        fresh = {a.id: a for a in evaluate(obs, th)}
        appeared = []
        for advice_id, advice in fresh.items():
            self._seen[advice_id] = self._seen.get(advice_id, 0) + 1
            self._missing.pop(advice_id, None)
            due = advice.rule in IMMEDIATE or self._seen[advice_id] >= th.raise_after
            if advice_id in self._shown:
                self._shown[advice_id] = advice  # newer evidence, maybe a new severity
            elif due:
                self._shown[advice_id] = advice
                appeared.append(advice)
        cleared = []
        for advice_id in list(self._shown):
            if advice_id in fresh:
                self._missing.pop(advice_id, None)
                continue
            self._missing[advice_id] = self._missing.get(advice_id, 0) + 1
            if (
                self._missing[advice_id] >= th.clear_after
                or self._shown[advice_id].rule in IMMEDIATE
            ):
                del self._shown[advice_id]
                del self._missing[advice_id]
                cleared.append(advice_id)
        for advice_id in [i for i in self._seen if i not in fresh]:
            del self._seen[advice_id]  # a condition must hold *consecutively* to show
        order = {"critical": 0, "warning": 1, "info": 2}
        shown = [fading(a) if a.id in self._missing else a for a in self._shown.values()]
        current = sorted(shown, key=lambda a: (order.get(a.severity, 3), a.id))
        return Update(current, appeared, cleared)


def fading(advice: Advice) -> Advice:
    """A warning whose condition is gone, kept ``clear_after`` runs against flapping. Its old
    text and evidence would contradict the page ("runs 4 processes" beside a table showing
    × 2 after the fix), and its fix has nothing left to fix: it says so, and offers none."""
    return replace(
        advice,
        severity="info",
        title=f"Cleared: {advice.title}",
        text="No longer seen at the last check (after a fix, or by itself); this clears in a "
        "few seconds unless it comes back.",
        evidence={},
        fix=None,
        fading=True,
    )
