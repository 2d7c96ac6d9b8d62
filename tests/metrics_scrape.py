"""Scraping Pooldesk's Prometheus endpoint over real HTTP, parsed with prometheus_client's own
parser: shared by the exposition's unit tests and the live ``metrics serve`` test."""

from __future__ import annotations

import contextlib
import socket
import time
import urllib.request
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

Metrics = dict[str, list[tuple[dict[str, str], float]]]


def scrape(url: str) -> Metrics:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def value(metrics: Metrics, metric: str, **labels: str) -> float:
    for found, number in metrics.get(metric, []):
        if all(found.get(k) == v for k, v in labels.items()):
            return number
    raise AssertionError(f"{metric}{labels} not exposed; have {sorted(metrics)}")


def wait_for(url: str, ready: Callable[[Metrics], bool], timeout: float = 30.0) -> Metrics:
    deadline = time.monotonic() + timeout
    while True:
        metrics = scrape(url)
        with contextlib.suppress(AssertionError):
            if ready(metrics):
                return metrics
        assert time.monotonic() < deadline, f"never ready: {sorted(metrics)}"
        time.sleep(0.3)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
