"""Several brokers, one view: a project's workers report on their own broker, and the merged
snapshot keeps their measurements (pool fit) and their timeline, not only the main broker's.

The monitors are stand-ins at the seam (each real monitor is tested on a real broker in
test_telemetry.py / test_projects.py); what is tested here is the merging logic itself.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from pooldesk.backend.broker.resolve import BrokerConfig
from pooldesk.backend.telemetry.fitstate import WorkerFit
from pooldesk.backend.telemetry.multi import MonitorSet
from pooldesk.backend.telemetry.tally import TaskTally
from pooldesk.backend.telemetry.views import EventSnapshot, Span


class _Monitor:
    def __init__(self, config: BrokerConfig, host: str, started: float) -> None:
        self.config = config
        self.host = host
        self.started = started
        self.stopped = False

    def start(self) -> None: ...

    def stop(self, timeout: float = 3.0) -> bool:
        self.stopped = True
        return True

    def snapshot(self) -> EventSnapshot:
        fit = WorkerFit(self.host, "gevent", 1, (), 1.0)
        tally = TaskTally()
        tally.count("succeeded", "shared.task", "", "q")  # the same label set on each broker
        tally.runtime("shared.task", "q", 0.2)
        return EventSnapshot(
            generation=1,
            timestamp=1.0,
            connected=True,
            fit=MappingProxyType({self.host: fit}),
            tally=tally.view(),
        )

    def timeline(self, queue: Any = None, prefix: Any = None, limit: int = 2_000) -> list[Span]:
        return [Span(f"{self.host}-t", "t", "q", self.host, 1, self.started, None, "STARTED")]


def test_fit_and_timeline_of_every_broker_are_merged() -> None:
    main_config = BrokerConfig("redis://main", "redis://main", managed=True)
    project_config = BrokerConfig("redis://project", "redis://project", managed=False)
    main = _Monitor(main_config, "demo@h", started=2.0)
    monitors = MonitorSet(
        main,  # type: ignore[arg-type]
        factory=lambda config: _Monitor(config, "proj@h", started=1.0),  # type: ignore[arg-type,return-value]
    )
    monitors.sync([project_config, main_config])  # the main broker is not listened to twice
    assert monitors.brokers == 2
    snap = monitors.snapshot()
    assert set(snap.fit) == {"demo@h", "proj@h"}  # the project's measurements survive the merge
    assert snap.tally is not None  # Prometheus counters of both brokers add up
    assert snap.tally.counts[("succeeded", "shared.task", "", "q")] == 2
    assert snap.tally.runtimes[("shared.task", "q")][2] == 2
    assert [s.hostname for s in monitors.timeline()] == ["proj@h", "demo@h"]  # oldest first
    monitors.sync([])
    assert monitors.brokers == 1
