"""Watching a start to its end without waiting: online, crashed (with its log), or too late.

A start (or the start that ends a restart) only spawns the worker; whoever asked wants to hear
when it answers ping. Each :meth:`Starts.report` looks at the watched workers once and says which
are done: online (``ready_text``), crashed or stopped while starting (``start_failure``, with the
last lines of its log), or not answering within the start timeout. Moved here from the window's
service so that the CLI and the fleet agent watch a start the same way.

A process is gone a moment before its supervisor records how (``EXIT_GRACE_S``): "crashed" with
an unknown exit is waited out that long, so the report carries the real exit code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pooldesk.backend.workers.info import WorkerInfo
from pooldesk.backend.workers.reports import UNKNOWN_EXIT

EXIT_GRACE_S = 2.0


@dataclass
class Watched:
    key: str  # what the caller ties the report to (a request id)
    name: str
    deadline: float
    graced_until: float | None = None


@dataclass(frozen=True)
class Ended:
    """A watched start's end: ``how`` is online, crashed, stopped, gone or late."""

    key: str
    name: str
    how: str
    info: WorkerInfo | None


class Starts:
    """Starts under way, by worker name; time comes from ``now`` (the stopping seam's clock)."""

    def __init__(self, now: Callable[[], float], exit_grace: float = EXIT_GRACE_S) -> None:
        self._now = now
        self.exit_grace = exit_grace
        self._watched: dict[str, Watched] = {}

    def watch(self, key: str, name: str, timeout: float) -> None:
        self._watched[name] = Watched(key, name, self._now() + timeout)

    def drop(self, name: str) -> str | None:
        """Stop watching ``name``; the key it was watched for, if any."""
        watched = self._watched.pop(name, None)
        return watched.key if watched else None

    def key(self, name: str) -> str | None:
        watched = self._watched.get(name)
        return watched.key if watched else None

    def names(self) -> list[str]:
        return list(self._watched)

    def report(self, infos: Mapping[str, WorkerInfo | None]) -> list[Ended]:
        """Judge each watched start from ``infos`` (name → its row; None: no record any more)."""
        ended: list[Ended] = []
        now = self._now()
        for name, watched in list(self._watched.items()):
            if name not in infos:
                continue  # not looked at this time
            info = infos[name]
            how = self._judge(watched, info, now)
            if how is not None:
                del self._watched[name]
                ended.append(Ended(watched.key, name, how, info))
        return ended

    def _judge(self, watched: Watched, info: WorkerInfo | None, now: float) -> str | None:
        if info is None:
            return "gone"
        if info.state == "online":
            return "online"
        if info.state == "crashed" and info.exit == UNKNOWN_EXIT:
            if watched.graced_until is None:
                watched.graced_until = now + self.exit_grace
            if now < watched.graced_until:
                return None
        if info.state in ("crashed", "stopped"):
            return info.state
        if now > watched.deadline:
            return "late"
        return None
