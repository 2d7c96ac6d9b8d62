"""A host project's backlog, as its agent sampled it, in the status bar's broker list and the
backlog chart's series, beside the local projects' own brokers, neither feed wiping the other;
a silent host's is marked unreachable and not charted."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication, QStatusBar

from pooldesk.backend.broker.status import BrokerStatus
from pooldesk.backend.fleet.backlog import KIND, as_status
from pooldesk.backend.fleet.roster import FleetRegistry
from pooldesk.desktop.charts.queues import BacklogHistory
from pooldesk.desktop.views.broker_line import BrokerLine


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def _registry(clock: Clock) -> FleetRegistry:
    registry = FleetRegistry(online_s=5.0, clock=clock)
    registry.feed({"kind": "sample", "host": "web-2", "ts": 1.0, "cpu_per_core": [1.0]})
    registry.feed(
        {
            "kind": KIND,
            "host": "web-2",
            "ts": 1.0,
            "brokers": [
                {
                    "project": "shop",
                    "broker": "redis://:****@10.0.0.5:6379/2",
                    "up": True,
                    "error": None,
                    "queues": {"reports": 120},
                }
            ],
        }
    )
    return registry


def test_status_bar_and_chart_show_a_host_projects_backlog(qapp: QApplication) -> None:
    clock = Clock()
    registry = _registry(clock)
    bar = QStatusBar()
    line = BrokerLine(bar)
    local = BrokerStatus(url="redis://x", managed=False, up=True, queues={"q": 3})
    line.show_projects([("proyecto", local)])
    hosted = [as_status(e) for e in registry.backlogs.entries()]
    line.show_host_projects(hosted)
    text = line.projects.text()
    assert "shop on web-2: 120 waiting" in text and "proyecto: 3 waiting" in text
    line.show_projects([("proyecto", local)])  # the local feed's next round keeps the host's
    assert "shop on web-2: 120 waiting" in line.projects.text()

    history = BacklogHistory()
    for project, status in hosted:
        if status.up:
            history.record(status.queues, broker=project)
    assert "reports (shop on web-2)" in history.queues()

    clock.now += 60  # the agent went silent
    ((where, status),) = [as_status(e) for e in registry.backlogs.entries()]
    assert where == "shop on web-2" and not status.up and status.queues == {}
    line.show_host_projects([(where, status)])
    assert "shop on web-2: unreachable" in line.projects.text()
    assert "120" not in line.projects.text()
    bar.deleteLater()
