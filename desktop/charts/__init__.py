"""Live charts for the Overview page (pyqtgraph): system, per worker, per queue."""

from pooldesk.desktop.charts.base import TimeChart
from pooldesk.desktop.charts.queues import QueueHistory, QueueThroughputChart
from pooldesk.desktop.charts.system import SystemCpuChart, SystemRamChart
from pooldesk.desktop.charts.worker import LimitHistory, WorkerCharts

__all__ = [
    "LimitHistory",
    "QueueHistory",
    "QueueThroughputChart",
    "SystemCpuChart",
    "SystemRamChart",
    "TimeChart",
    "WorkerCharts",
]
