"""A project batch's plan: every check a launch needs, before anything is sent.

``make_plan`` validates the project, task, queue, items and chunk size and that the project's
broker answers, and says who consumes the queue and what the forecast is — the dry run and the
launch dialog need it without a :class:`~pooldesk.backend.batches.project_batch.ProjectBatches`
(no history, no child store, nothing written). ``project_batch`` launches a plan.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pooldesk.backend.batches import forecast as forecast_mod
from pooldesk.backend.batches.items import Items, children_count
from pooldesk.backend.batches.project_target import Target, TargetError, resolve


@dataclass
class Plan:
    target: Target
    items: Items
    chunk_size: int | None
    children: int
    consumers: list[forecast_mod.Consumer] = field(default_factory=list)
    forecast: dict[str, Any] = field(default_factory=dict)

    @property
    def warning(self) -> str | None:
        if self.consumers:
            return None
        return (
            f"no worker consumes queue {self.target.queue!r} now: the children will wait in it; "
            f"start a worker for it (pooldesk worker start NAME --project "
            f"{self.target.project} -Q {self.target.queue})"
        )

    def to_dict(self) -> dict[str, Any]:
        """``batch run --dry-run --json``."""
        return {
            "task": self.target.task,
            "queue": self.target.queue,
            "items": len(self.items),
            "children": self.children,
            "consumers": [
                {"name": c.name, "pool": c.pool, "concurrency": c.concurrency}
                for c in self.consumers
            ],
            "forecast": list(self.forecast.get("forecast") or []),
            "forecast_reason": self.forecast.get("forecast_reason"),
        }


def broker_error(target: Target) -> str | None:
    from pooldesk.backend.broker.status import broker_status

    status = broker_status(target.config, queues=())
    return None if status.up else f"project {target.project}: {status.error}"


CONSUMERS_TTL_S = 5.0
_consumers: dict[str, tuple[float, list[Any]]] = {}


def consumers_of(target: Target, timeout: float = 1.0) -> list[forecast_mod.Consumer]:
    """The workers consuming the queue now, as the project's broker's remote control says.

    An inspect waits its whole timeout for replies (1 s): the window's dialog asks again as
    the person types, so one broker's answer is reused for :data:`CONSUMERS_TTL_S`."""
    from pooldesk.backend.workers.control import Control

    now = time.monotonic()
    cached = _consumers.get(target.broker_url)
    if cached is not None and now - cached[0] < CONSUMERS_TTL_S:
        found = cached[1]
    else:
        control = Control(target.config)
        try:
            found = control.remote_workers(timeout=timeout)
        finally:
            control.close()
        _consumers[target.broker_url] = (now, found)
    return [
        forecast_mod.Consumer(w.hostname, w.pool or "?", int(w.concurrency or 0))
        for w in found
        if target.queue in w.queues
    ]


def make_plan(
    project: str,
    task: str,
    items: Items,
    chunk_size: int | None = None,
    queue: str | None = None,
    check_broker: bool = True,
    forecast_timeout: float = 3.0,
) -> Plan:
    """Every check a launch needs, nothing sent. Raises TargetError (bad input, exit 2)."""
    if chunk_size is not None and chunk_size < 1:
        raise TargetError(f"--chunk-size {chunk_size}: must be 1 or more")
    if len(items) == 0:
        raise TargetError(f"{items.source}: no items")
    target = resolve(project, task, queue)
    if check_broker:
        down = broker_error(target)
        if down:
            raise TargetError(down)
    plan = Plan(target, items, chunk_size, children_count(len(items), chunk_size))
    plan.consumers = consumers_of(target) if check_broker else []
    plan.forecast = forecast_mod.forecast_batch(
        project=project,
        task=task,
        queue=target.queue,
        items=len(items),
        children=plan.children,
        consumers=plan.consumers,
        timeout_s=forecast_timeout,
    )
    return plan
