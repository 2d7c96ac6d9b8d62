"""One observation step: what was measured → observations → advice → the Pool fit table.

Both clients run exactly this: the window's telemetry thread
(``desktop/services/telemetry.py``, which only schedules it each second and forwards the
result as signals) and the CLI's :class:`~pooldesk.backend.telemetry.live.LiveTelemetry`
(``pooldesk advise``, ``fit``, ``metrics serve``). Before it existed the two assembled the
same parts separately and could disagree (issue 21); the advisor's short histories
(hysteresis, loop lag, memory growth) live in the step, so each client keeps one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pooldesk.backend.advisor.model import (
    DEFAULT_NATURES,
    Advice,
    Fix,
    Observations,
    Thresholds,
)
from pooldesk.backend.advisor.service import AdvisorService
from pooldesk.backend.batches.history import BatchRecord
from pooldesk.backend.broker.status import BrokerStatus
from pooldesk.backend.fit import fixloop
from pooldesk.backend.fit.table import QueueFit
from pooldesk.backend.fit.table import build as build_fit
from pooldesk.backend.settings import Settings
from pooldesk.backend.telemetry.samples import Snapshot
from pooldesk.backend.telemetry.views import EventSnapshot
from pooldesk.backend.workers.manager import WorkerInfo


@dataclass(frozen=True)
class Inputs:
    """Everything one step looks at (any part may be missing: the broker down, no events)."""

    workers: tuple[WorkerInfo, ...]
    samples: Snapshot | None
    events: EventSnapshot | None
    broker: BrokerStatus | None
    batches: tuple[BatchRecord, ...] = ()


@dataclass(frozen=True)
class Outcome:
    inputs: Inputs
    obs: Observations
    advice: tuple[Advice, ...]  # current, most severe first
    appeared: tuple[Advice, ...]  # raised by this step (a notification)
    fit: tuple[QueueFit, ...] = field(default_factory=tuple)


class ObservationStep:
    def __init__(self, settings: Settings, thresholds: Thresholds | None = None) -> None:
        advisor: dict[str, Any] = dict(settings.advisor or {})
        self.advisor = AdvisorService(
            thresholds or Thresholds.from_settings(advisor), advisor.get("queue_nature")
        )
        self._last: Outcome | None = None

    @property
    def thresholds(self) -> Thresholds:
        return self.advisor.thresholds

    def apply_settings(self, settings: Settings) -> None:
        """New thresholds and natures at once; the rules' short histories are kept."""
        advisor: dict[str, Any] = dict(settings.advisor or {})
        self.advisor.advisor.thresholds = Thresholds.from_settings(advisor)
        self.advisor.natures = {**DEFAULT_NATURES, **(advisor.get("queue_nature") or {})}

    def note_fix(self, fix: Fix) -> None:
        """A fix was applied: remember the before figures of the queues it touches."""
        last = self._last
        fixloop.note(fix, last.obs if last else None, list(last.fit) if last else [])

    def run(self, inputs: Inputs) -> Outcome:
        obs = self.advisor.observe(
            list(inputs.workers), inputs.samples, inputs.events, inputs.broker,
            list(inputs.batches),
        )  # fmt: skip
        update = self.advisor.update(obs)
        fit = fixloop.annotate(build_fit(obs, self.thresholds), obs, fixloop.recent())
        self._last = Outcome(inputs, obs, tuple(update.current), tuple(update.appeared), tuple(fit))
        return self._last
