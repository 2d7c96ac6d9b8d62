"""Remote control through the broker: ping, inspect, grow/shrink, queues, shutdown.

Every call has a timeout and returns plain data; nothing here raises a broker exception to the
caller. Replies from a gevent worker whose loop is blocked take 0.5–2 s: that is slowness, not
absence, so the panel never marks a worker offline on one missed reply.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from celery import Celery
from celery.exceptions import DuplicateNodenameWarning

from pooldesk.backend.broker.resolve import BrokerConfig
from pooldesk.backend.panelapp import panel_app


class ControlError(RuntimeError):
    pass


@dataclass
class RemoteWorker:
    hostname: str  # NAME@host
    pid: int | None
    pool: str | None
    concurrency: int | None
    queues: list[str] = field(default_factory=list)
    active: int = 0
    processed: int = 0


POOL_NAMES = {
    "prefork": "prefork",
    "gevent": "gevent",
    "thread": "threads",  # celery.concurrency.thread:TaskPool is the ``threads`` pool
    "threads": "threads",
    "solo": "solo",
    "eventlet": "eventlet",
}


def pool_name(implementation: str | None) -> str | None:
    """``celery.concurrency.prefork:TaskPool`` → ``prefork``."""
    if not implementation:
        return None
    module = implementation.split(":", 1)[0].rsplit(".", 1)[-1]
    return POOL_NAMES.get(module, module)


def _quietly(call: Callable[[], dict[str, Any] | None]) -> dict[str, Any]:
    try:
        return call() or {}
    except Exception:
        return {}


class Control:
    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self._app: Celery | None = None
        # Celery's DuplicateNodenameWarning (two workers answering under one name) is printed
        # by ``warnings`` as four lines on the user's terminal, from the broadcast threads of
        # remote_workers. Dropped process-wide (catch_warnings is not thread-safe): the list
        # shows both workers, and the one-worker-per-name lock keeps Pooldesk from making more.
        warnings.filterwarnings("ignore", category=DuplicateNodenameWarning)

    @property
    def app(self) -> Celery:
        if self._app is None:
            # The panel must fail fast on a dead broker; only workers retry forever.
            self._app = panel_app("watch", self.config.broker_url, self.config.result_backend)
        return self._app

    def close(self) -> None:
        if self._app is not None:
            self._app.close()
            self._app = None

    def ping(self, destinations: list[str] | None = None, timeout: float = 1.0) -> dict[str, float]:
        """Node name → reply latency in seconds, for those that answered."""
        started = time.monotonic()
        limit = len(destinations) if destinations else None
        try:
            replies = self.app.control.ping(destination=destinations, timeout=timeout, limit=limit)
        except Exception:
            return {}
        elapsed = time.monotonic() - started
        return {name: elapsed for reply in replies or [] for name in reply}

    def remote_workers(self, timeout: float = 1.0) -> list[RemoteWorker]:
        """Everyone on this broker who answers ``stats`` (local workers included)."""
        inspect = self.app.control.inspect(timeout=timeout)
        # Each inspect call waits its whole timeout for replies: ask the three at once.
        with ThreadPoolExecutor(max_workers=3) as executor:
            futures = [
                executor.submit(_quietly, fn)
                for fn in (inspect.stats, inspect.active_queues, inspect.active)
            ]
            stats, queues, active = (f.result() for f in futures)
        out = []
        for host, info in sorted(stats.items()):
            pool = info.get("pool") or {}
            processes = pool.get("processes")
            conc = len(processes) if isinstance(processes, list) else pool.get("max-concurrency")
            total = info.get("total") or {}
            out.append(
                RemoteWorker(
                    hostname=host,
                    pid=info.get("pid"),
                    pool=pool_name(pool.get("implementation")),
                    concurrency=conc,
                    queues=[q.get("name") for q in queues.get(host) or [] if q.get("name")],
                    active=len(active.get(host) or []),
                    processed=int(sum(total.values())) if isinstance(total, dict) else 0,
                )
            )
        return out

    def _broadcast(
        self,
        command: str,
        destination: str,
        timeout: float = 2.0,
        reply: bool = True,
        **arguments: Any,
    ) -> list[dict[str, Any]]:
        try:
            result = self.app.control.broadcast(
                command,
                arguments=arguments,
                destination=[destination],
                reply=reply,
                timeout=timeout,
                limit=1 if reply else None,
            )
        except Exception as exc:
            raise ControlError(f"{command} to {destination} failed: {exc}") from exc
        return list(result or [])

    def _checked(self, command: str, destination: str, **arguments: Any) -> str:
        replies = self._broadcast(command, destination, **arguments)
        if not replies:
            raise ControlError(f"{destination} did not answer {command}")
        answer = replies[0].get(destination, {})
        if "error" in answer:
            raise ControlError(f"{destination} refused {command}: {answer['error']}")
        return str(answer.get("ok", "ok"))

    def grow(self, destination: str, n: int) -> str:
        return self._checked("pool_grow", destination, n=n)

    def shrink(self, destination: str, n: int) -> str:
        return self._checked("pool_shrink", destination, n=n)

    def add_consumer(self, destination: str, queue: str) -> str:
        return self._checked("add_consumer", destination, queue=queue)

    def cancel_consumer(self, destination: str, queue: str) -> str:
        return self._checked("cancel_consumer", destination, queue=queue)

    def shutdown(self, destination: str) -> None:
        """The reply to ``shutdown`` is always empty: watch the process or worker-offline."""
        self._broadcast("shutdown", destination, reply=False)
