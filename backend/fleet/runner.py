"""The operations API off the agent's broker loop: one thread owns it, queues carry the rest.

Why a thread: a start, restart or resize first runs the project check, which imports the app in
the project's interpreter — seconds, more on a loaded host (15 s and more was seen with tests
running on 2 cores). Run inline, that froze the agent's loop: no samples (the panel marked the
host offline), no replies, other commands waiting. The API is used from one thread at a time,
so :class:`OpsThread` creates it, submits every request and ticks it; outcomes (their JSON)
come back through a queue that the loop drains and sends (the kombu connection stays the loop's).
:class:`InlineRunner` does the same synchronously, for unit tests with a fake API.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger("pooldesk.fleet.agent")


class Operations(Protocol):
    """The seam to ``backend.operations.Operations`` (a fake in unit tests)."""

    def submit(self, request: Any) -> Any: ...

    def tick(self) -> list[Any]: ...


def _failed(request: Any, exc: BaseException) -> dict[str, Any]:
    return {
        "id": request.id,
        "op": request.op,
        "name": request.name,
        "state": "failed",
        "ok": False,
        "text": f"{type(exc).__name__}: {exc}",
        "data": {"reason": "error"},
    }


class InlineRunner:
    """Submits at once and ticks on every drain (one thread; unit tests)."""

    def __init__(self, make: Callable[[], Operations]) -> None:
        self._make = make
        self._ops: Operations | None = None
        self._out: list[dict[str, Any]] = []

    @property
    def ops(self) -> Operations:
        if self._ops is None:
            self._ops = self._make()
        return self._ops

    def submit(self, request: Any) -> None:
        try:
            self._out.append(self.ops.submit(request).to_json())
        except Exception as exc:  # an outage or a bug: answered, the agent keeps serving
            log.exception("operation %s %s raised", request.op, request.name)
            self._out.append(_failed(request, exc))

    def drain(self) -> list[dict[str, Any]]:
        if self._ops is not None:
            try:
                self._out += [o.to_json() for o in self._ops.tick()]
            except Exception:
                log.exception("operations tick raised")
        out, self._out = self._out, []
        return out

    def close(self) -> None:
        pass


class OpsThread(threading.Thread):
    """Owns the API: submits what arrives, ticks every ``tick_s``, and runs ``chores`` (the
    agent's adoption of orphaned workers: the same manager, so the same thread) at start and
    every ``chores_s``."""

    def __init__(
        self,
        make: Callable[[], Operations],
        tick_s: float = 0.25,
        chores: Callable[[], None] | None = None,
        chores_s: float = 30.0,
    ) -> None:
        super().__init__(name="fleet-ops", daemon=True)
        self._inline = InlineRunner(make)
        self._inbox: queue.Queue[Any] = queue.Queue()
        self._outbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self._halt = threading.Event()
        self.tick_s = tick_s
        self.chores, self.chores_s = chores, chores_s

    def submit(self, request: Any) -> None:
        self._inbox.put(request)

    def drain(self) -> list[dict[str, Any]]:
        out = []
        while True:
            try:
                out.append(self._outbox.get_nowait())
            except queue.Empty:
                return out

    def run(self) -> None:
        chores_at = 0.0
        while not self._halt.is_set():
            if self.chores is not None and time.monotonic() >= chores_at:
                chores_at = time.monotonic() + self.chores_s
                try:
                    self.chores()
                except Exception:
                    log.exception("agent chores raised")
            try:
                request = self._inbox.get(timeout=self.tick_s)
            except queue.Empty:
                request = None
            if request is not None:
                self._inline.submit(request)
            for item in self._inline.drain():
                self._outbox.put(item)

    def close(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(timeout=5)
