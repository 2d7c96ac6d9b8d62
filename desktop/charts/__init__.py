"""Live charts for the Overview page (pyqtgraph): system, per worker, per queue."""

from desktop.charts.base import TimeChart
from desktop.charts.queues import QueueHistory, QueueThroughputChart
from desktop.charts.system import SystemCpuChart, SystemRamChart
from desktop.charts.worker import LimitHistory, WorkerCharts

__all__ = [
    "LimitHistory",
    "QueueHistory",
    "QueueThroughputChart",
    "SystemCpuChart",
    "SystemRamChart",
    "TimeChart",
    "WorkerCharts",
]
