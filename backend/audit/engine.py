"""One audit: a project's settings (read in its own interpreter) judged against what its tasks
and workers measured. The CLI (``pooldesk audit``), ``advise`` (rule family ``audit_*``), the
metrics gauge and the window's Audit page all call :func:`audit` or :func:`evaluate`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from pooldesk.backend.advisor.model import Advice, Thresholds
from pooldesk.backend.audit import measure, rules, workerrules
from pooldesk.backend.audit.model import AppConfig, Finding, Measurements, Setting, WorkerView
from pooldesk.backend.redact import mask_url

log = logging.getLogger(__name__)
CONFIG_MODULE_MARKER = "@@pooldesk-config@@"
CONFIG_TTL_S = 300.0  # an app's settings change with a deploy, not from second to second
RULES: tuple[rules.Rule, ...] = (
    rules.bad_values,
    rules.visibility_timeout,
    rules.acks,
    workerrules.prefetch_long_tasks,
    workerrules.time_limits,
    workerrules.memory_growth,
    workerrules.autoscale_quorum,
    rules.eta_piling,
    rules.result_expiry,
)
ORDER = {"critical": 0, "warning": 1, "info": 2}


def evaluate(
    cfg: AppConfig, workers: list[WorkerView], meas: Measurements, th: Thresholds
) -> list[Finding]:
    """Every rule, each on its own: a rule that fails on an odd value is logged and skipped,
    so one strange setting never hides the other findings."""
    out: list[Finding] = []
    if cfg.error:
        return out
    for rule in RULES:
        try:
            out.extend(rule(cfg, workers, meas, th))
        except Exception:  # pragma: no cover - a rule bug must not take the audit down
            log.exception("audit rule %s failed", rule.__name__)
    unique = {f.id: f for f in out}
    return sorted(unique.values(), key=lambda f: (ORDER.get(f.severity, 3), f.rule, f.id))


@dataclass
class Report:
    project: str
    celery: str | None
    transport: str | None
    findings: list[Finding] = field(default_factory=list)
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    workers: list[str] = field(default_factory=list)
    tasks_measured: int = 0
    error: str | None = None
    checked_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "celery": self.celery,
            "transport": self.transport,
            "error": self.error,
            "checked_at": self.checked_at,
            "workers": self.workers,
            "tasks_measured": self.tasks_measured,
            "settings": self.settings,
            "findings": [f.to_dict() for f in self.findings],
        }


_cache: dict[str, tuple[float, AppConfig]] = {}


def read_config(project_name: str, fresh: bool = False) -> AppConfig:
    """The app's settings from its own interpreter (cached for ``CONFIG_TTL_S``). Raises
    ProjectError for an unknown project or one that cannot be asked."""
    from pooldesk.backend.projects.check import ask
    from pooldesk.backend.projects.model import DEMO, demo_project
    from pooldesk.backend.projects.store import ProjectStore
    from pooldesk.backend.workers import inworker

    cached = _cache.get(project_name)
    if cached and not fresh and time.monotonic() - cached[0] < CONFIG_TTL_S:
        return cached[1]
    project = demo_project() if project_name == DEMO else ProjectStore().get(project_name)
    data = ask(project, inworker.CONFIG_MODULE, CONFIG_MODULE_MARKER)
    cfg = AppConfig.from_answer(project_name, data)
    if project.managed_broker:  # its workers run on Pooldesk's broker, not the app's own
        _on_managed_broker(cfg)
    _cache[project_name] = (time.monotonic(), cfg)
    return cfg


def _on_managed_broker(cfg: AppConfig) -> None:
    """The demo, or a project started with ``--use-managed-broker``: the transport is that of
    Pooldesk's broker (Redis, unless the settings name another), whatever the app says."""
    from pooldesk.backend.broker.resolve import current_config
    from pooldesk.backend.workers.celery_features import is_redis

    config = current_config()
    url = config.broker_url or ""
    if config.managed or is_redis(url):
        cfg.transport = "redis"  # the managed broker is a redis-server (or Valkey)
    else:
        cfg.transport = url.partition("://")[0] or cfg.transport
    cfg.settings["broker_url"] = Setting("broker_url", None, "Pooldesk's broker")


def public_settings(cfg: AppConfig) -> dict[str, dict[str, Any]]:
    """Every setting read, for display: URLs masked (a string value may be one)."""
    out = {}
    for name, setting in sorted(cfg.settings.items()):
        value = mask_url(setting.value) if isinstance(setting.value, str) else setting.value
        out[name] = {"value": value, "source": setting.source}
    return out


def audit(
    project_name: str,
    thresholds: Thresholds | None = None,
    growth: dict[str, float] | None = None,
    fresh: bool = False,
) -> Report:
    """Read the settings, measure from task history and worker records, judge."""
    th = thresholds or Thresholds()
    cfg = read_config(project_name, fresh=fresh)
    report = Report(
        project_name, cfg.celery, cfg.transport, error=cfg.error, checked_at=time.time()
    )
    if cfg.error:
        return report
    # The sampler measures growth over up to twice the watch (AdvisorService._growth).
    workers = measure.project_workers(project_name, growth, 2 * th.uss_growth_window_s)
    meas = measure.from_history(cfg.task_names, routes=cfg.task_queues)
    report.findings = evaluate(cfg, workers, meas, th)
    report.settings = public_settings(cfg)
    report.workers = [w.name for w in workers]
    report.tasks_measured = sum(t.runs for t in meas.tasks)
    return report


def as_advice(finding: Finding) -> Advice:
    """A finding in ``advise``'s shape: rule family ``audit_*``, the same id, no one-click fix
    (a setting in the user's code is the user's to change)."""
    return Advice(
        id=finding.id,
        rule=f"audit_{finding.rule}",
        severity=finding.severity,
        title=finding.title,
        text=f"{finding.text} Fix: {finding.fix.get('change')} ({finding.fix.get('docs')}).",
        evidence={
            "project": finding.project,
            "config": finding.config,
            "measured": finding.measured,
            "fix": finding.fix,
        },
    )
