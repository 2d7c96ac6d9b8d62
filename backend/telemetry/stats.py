"""Bounded rolling statistics for the event monitor: percentiles over the last N values and
event rates over the last few seconds. Both cost O(1) memory whatever the event rate."""

from __future__ import annotations

import math
from collections import deque


class RollingPercentiles:
    """The last ``size`` values; percentiles are computed on demand (a sort of ≤ size floats)."""

    def __init__(self, size: int = 1000) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self.added = 0  # ever added: tells a cache that the percentiles may have moved

    def add(self, value: float) -> None:
        if value >= 0 and math.isfinite(value):
            self._values.append(value)
            self.added += 1

    def __len__(self) -> int:
        return len(self._values)

    def percentiles(self, *qs: float) -> tuple[float | None, ...]:
        """Nearest-rank percentiles (q in 0..100); ``None`` each while there is no value."""
        if not self._values:
            return tuple(None for _ in qs)
        ordered = sorted(self._values)
        last = len(ordered) - 1
        return tuple(ordered[min(last, max(0, math.ceil(q / 100 * len(ordered)) - 1))] for q in qs)


class RateWindow:
    """Counts per whole second for the last ``horizon`` seconds: rate over any shorter window."""

    def __init__(self, horizon: int = 60) -> None:
        self.horizon = horizon
        self._counts: dict[int, int] = {}  # second → events; at most ~horizon keys
        self._newest = 0
        self.total = 0

    def add(self, timestamp: float, count: int = 1) -> None:
        second = int(timestamp)
        self.total += count
        if second <= self._newest - self.horizon:
            return  # older than the horizon (a late event, a skewed clock): total only
        self._counts[second] = self._counts.get(second, 0) + count
        if second > self._newest:
            self._newest = second
            if len(self._counts) > self.horizon:
                oldest = second - self.horizon
                for key in [k for k in self._counts if k <= oldest]:
                    del self._counts[key]

    def rate(self, seconds: float, now: float, elapsed: float | None = None) -> float:
        """Events per second over the last ``seconds`` before ``now``.

        ``elapsed`` (how long we have been watching) shortens the denominator at start-up, so
        the first seconds don't read as a fraction of the true rate.
        """
        cutoff = now - seconds
        count = sum(
            n for second, n in self._counts.items() if cutoff < second + 1 and second <= now
        )
        span = seconds if elapsed is None else max(1.0, min(seconds, elapsed))
        return count / span
