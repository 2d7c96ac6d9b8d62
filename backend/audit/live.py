"""Audit findings that refresh as measurements arrive, for long-running callers.

``pooldesk metrics serve`` and the window's Audit service call :meth:`AuditWatch.poll` on every
step with the advisor's latest observations; the watch re-audits every project that has
workers at most every ``every_s`` seconds, in one background thread (reading an app's settings
starts the project's interpreter: about a second, never on the caller's thread), and returns
the latest findings at once. Task history is re-read on each refresh; the settings are cached
by :func:`engine.read_config` for five minutes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

from pooldesk.backend.advisor.model import Advice, Observations, Thresholds
from pooldesk.backend.audit.engine import Report, as_advice, audit

log = logging.getLogger(__name__)
EVERY_S = 15.0


def projects_with_workers() -> list[str]:
    """Projects Pooldesk runs workers for (the demo counts for workers of our own app)."""
    from pooldesk.backend.workers.records import RecordStore

    store = RecordStore()
    found: list[str] = []
    for name in store.names():
        with contextlib.suppress(Exception):
            record = store.load(name)
            if record is not None and (record.spec.project or "demo") not in found:
                found.append(record.spec.project or "demo")
    return found


def growth_of(obs: Observations | None) -> dict[str, float]:
    if obs is None:
        return {}
    return {
        w.name: w.uss_growth_bytes_per_min
        for w in obs.workers
        if w.uss_growth_bytes_per_min is not None
    }


def audit_all(
    thresholds: Thresholds,
    obs: Observations | None = None,
    projects: list[str] | None = None,
    fresh: bool = False,
) -> list[Report]:
    """One report per project; a project that cannot be asked gets a report with its error."""
    from pooldesk.backend.projects.model import ProjectError

    growth = growth_of(obs)
    reports = []
    for name in projects if projects is not None else projects_with_workers():
        try:
            reports.append(audit(name, thresholds, growth, fresh=fresh))
        except ProjectError as exc:
            reports.append(Report(name, None, None, error=str(exc), checked_at=time.time()))
    return reports


def audit_advice(thresholds: Thresholds, obs: Observations | None = None) -> list[Advice]:
    """Every project's findings as advice (``advise``'s rule family ``audit_*``)."""
    return [as_advice(f) for r in audit_all(thresholds, obs) for f in r.findings]


class AuditWatch:
    def __init__(
        self,
        thresholds: Thresholds,
        every_s: float = EVERY_S,
        run: Callable[[Thresholds, Observations | None], list[Report]] = audit_all,
    ) -> None:
        self.thresholds = thresholds
        self.every_s = every_s
        self._run = run
        self._lock = threading.Lock()
        self._reports: list[Report] = []
        self._thread: threading.Thread | None = None
        self._next = 0.0

    def poll(self, obs: Observations | None) -> list[Report]:
        """Start a refresh if one is due (and none runs); the latest reports either way."""
        now = time.monotonic()
        if now >= self._next and (self._thread is None or not self._thread.is_alive()):
            self._next = now + self.every_s
            self._thread = threading.Thread(
                target=self._refresh, args=(obs,), name="pooldesk-audit", daemon=True
            )
            self._thread.start()
        return self.reports()

    def _refresh(self, obs: Observations | None) -> None:
        try:
            reports = self._run(self.thresholds, obs)
        except Exception:  # pragma: no cover - logged; the previous findings stay
            log.exception("audit refresh failed")
            return
        with self._lock:
            self._reports = reports

    def reports(self) -> list[Report]:
        with self._lock:
            return list(self._reports)

    def advice(self) -> list[Advice]:
        return [as_advice(f) for r in self.reports() for f in r.findings]

    def wait(self, timeout: float) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
