"""A bounded ring buffer of ``(timestamp, value, ...)`` samples, one column per field.

Columns are ``array('d')`` of fixed length: an hour at 1 s of eight fields is 230 KB, not the
~1 MB a deque of tuples costs. ``None`` is stored as NaN (pyqtgraph draws a gap there). A lock
makes one writer (the sampler thread) and readers (the GUI's timer) safe together.
"""

from __future__ import annotations

import math
import threading
import time
from array import array
from collections.abc import Sequence

DEFAULT_CAPACITY = 3600  # one hour at one sample per second
NAN = math.nan


class Ring:
    def __init__(self, fields: Sequence[str], capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.fields = tuple(fields)
        self.capacity = capacity
        self._t = array("d", bytes(8 * capacity))
        self._cols = [array("d", bytes(8 * capacity)) for _ in self.fields]
        self._next = 0  # where the next sample goes
        self._count = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._count

    def push(self, timestamp: float, *values: float | None) -> None:
        if len(values) != len(self.fields):
            raise ValueError(f"expected {len(self.fields)} values, got {len(values)}")
        with self._lock:
            i = self._next
            self._t[i] = timestamp
            for col, value in zip(self._cols, values, strict=True):
                col[i] = NAN if value is None else value
            self._next = (i + 1) % self.capacity
            self._count = min(self._count + 1, self.capacity)

    def clear(self) -> None:
        with self._lock:
            self._next = self._count = 0

    def _indices(self, seconds: float | None, now: float | None) -> list[int]:
        """Positions of the samples in the window, oldest first (caller holds the lock)."""
        newest = (self._next - 1) % self.capacity
        if seconds is None:
            first = (self._next - self._count) % self.capacity
            return [(first + k) % self.capacity for k in range(self._count)]
        cutoff = (time.time() if now is None else now) - seconds
        out: list[int] = []
        for k in range(self._count):  # walk back from the newest until the cutoff
            i = (newest - k) % self.capacity
            if self._t[i] < cutoff:
                break
            out.append(i)
        out.reverse()
        return out

    def window(
        self, seconds: float | None = None, now: float | None = None
    ) -> list[tuple[float, ...]]:
        """Samples of the last ``seconds`` before ``now`` (default: wall clock), oldest first.

        ``seconds=None`` returns everything kept.
        """
        with self._lock:
            return [
                (self._t[i], *(col[i] for col in self._cols)) for i in self._indices(seconds, now)
            ]

    def columns(
        self, seconds: float | None = None, now: float | None = None
    ) -> dict[str, list[float]]:
        """The same window as ``{"t": [...], field: [...]}``: ready for a chart's ``setData``."""
        with self._lock:
            idx = self._indices(seconds, now)
            out = {"t": [self._t[i] for i in idx]}
            for name, col in zip(self.fields, self._cols, strict=True):
                out[name] = [col[i] for i in idx]
        return out

    def last(self) -> tuple[float, ...] | None:
        with self._lock:
            if not self._count:
                return None
            i = (self._next - 1) % self.capacity
            return (self._t[i], *(col[i] for col in self._cols))
