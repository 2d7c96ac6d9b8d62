"""What a user can do to a recorded task, for the CLI and the window alike: retry (as recorded
or edited), retry a whole failure group, revoke or terminate. Everything that can be refused is
checked before the first message is sent, so a refusal sends nothing."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from celery import Celery

from pooldesk.backend.broker.resolve import BrokerConfig, ensure_broker
from pooldesk.backend.panelapp import panel_app
from pooldesk.backend.taskhistory import retry as retry_mod
from pooldesk.backend.taskhistory.query import TaskQuery, TaskRow
from pooldesk.backend.taskhistory.retry import RetryError, RetryPlan
from pooldesk.backend.taskhistory.service import broker_key

MAX_GROUP_RETRY = 1_000


@dataclass(frozen=True)
class Sent:
    source_id: str
    id: str
    plan: RetryPlan

    def to_dict(self) -> dict[str, Any]:
        return {
            "retried": self.source_id,
            "id": self.id,
            "name": self.plan.name,
            "args": self.plan.args,
            "kwargs": self.plan.kwargs,
            "queue": self.plan.queue,
            "edited": self.plan.edited,
        }


class TaskActions:
    """Actions go to the broker the task ran on: Pooldesk's own, or a project's own broker
    (its workers are recorded there), so a user's task is retried where its workers listen."""

    def __init__(
        self, query: TaskQuery | None = None, config: BrokerConfig | None = None, asker: str = "cli"
    ) -> None:
        self.query = query or TaskQuery()
        self.asker = asker  # "cli" or "window": how a refusal says what to do instead
        self._config = config
        self._apps: dict[str, Celery] = {}
        self._plan_brokers: dict[str, BrokerConfig] = {}  # source task id → where to send

    @property
    def config(self) -> BrokerConfig:
        if self._config is None:
            self._config = ensure_broker()
        return self._config

    @property
    def app(self) -> Celery:
        return self._app_for(self.config)

    def _app_for(self, config: BrokerConfig) -> Celery:
        key = config.broker_url or ""
        if key not in self._apps:
            self._apps[key] = panel_app("send", config.broker_url, config.result_backend)
        return self._apps[key]

    def _known_brokers(self) -> list[BrokerConfig]:
        from pooldesk.backend.projects.brokers import own_broker
        from pooldesk.backend.projects.store import ProjectStore

        store = ProjectStore()
        projects = [own_broker(name, store) for name in store.names()]
        return [self.config, *(c for c in projects if c is not None and c.broker_url)]

    def close(self) -> None:
        for app in self._apps.values():
            app.close()
        self._apps.clear()
        self.query.close()

    def find(self, task_id: str) -> TaskRow:
        rows = self.query.get(task_id)
        if not rows:
            raise RetryError(f"no task {task_id!r} in the task history")
        if len(rows) > 1:
            raise RetryError(f"{task_id!r} matches several tasks; give more of the id")
        return rows[0]

    def _broker_of(self, row: TaskRow) -> BrokerConfig:
        """Where the task ran (refused, sending nothing, when Pooldesk no longer knows it)."""
        key = row["broker"]
        if not key:
            return self.config
        for config in self._known_brokers():
            if config.broker_url and broker_key(config.broker_url) == key:
                return config
        raise RetryError(
            f"task {row.id} ran on a broker Pooldesk no longer knows (a removed project, or a "
            "changed broker URL); switch back to it to retry"
        )

    def plan(
        self,
        task_id: str,
        args_json: str | None = None,
        kwargs_json: str | None = None,
        queue: str | None = None,
    ) -> RetryPlan:
        row = self.find(task_id)
        rebuilt = retry_mod.plan(row, args_json, kwargs_json, self.asker)
        retry_plan = self._with_queue(row, rebuilt, queue)
        self._plan_brokers[retry_plan.source_id] = self._broker_of(row)
        return retry_plan

    def _with_queue(self, row: TaskRow, retry_plan: RetryPlan, queue: str | None) -> RetryPlan:
        return with_queue(row, retry_plan, queue, self.asker)

    def revoke(self, task_id: str, terminate: bool = False) -> TaskRow:
        row = self.find(task_id)
        retry_mod.revoke(self._app_for(self._broker_of(row)), row.id, terminate)
        return row

    def retry(
        self,
        task_id: str,
        args_json: str | None = None,
        kwargs_json: str | None = None,
        queue: str | None = None,
    ) -> Sent:
        retry_plan = self.plan(task_id, args_json, kwargs_json, queue)
        return self.retry_plans([retry_plan])[0]

    def plan_group(self, group: str) -> tuple[list[RetryPlan], list[tuple[str, str]]]:
        """Plans for every failed task of a failure group, and (id, reason) of those that can
        only be retried with edited arguments (they are left out)."""
        plans, skipped = [], []
        for task_id in self.query.group_ids(group, MAX_GROUP_RETRY):
            row = self.find(task_id)
            try:
                retry_plan = self._with_queue(row, retry_mod.plan(row, asker=self.asker), None)
                self._plan_brokers[retry_plan.source_id] = self._broker_of(row)
                plans.append(retry_plan)
            except RetryError as exc:
                skipped.append((task_id, str(exc)))
        return plans, skipped

    def retry_plans(self, plans: list[RetryPlan]) -> list[Sent]:
        sent = []
        for p in plans:
            app = self._app_for(self._plan_brokers.get(p.source_id) or self.config)
            sent.append(Sent(p.source_id, retry_mod.send(app, p), p))
        return sent


def with_queue(
    row: TaskRow, retry_plan: RetryPlan, queue: str | None = None, asker: str = "cli"
) -> RetryPlan:
    """The queue to send to. A user's app usually sends no ``task-sent`` event (it is off by
    default in Celery), so its queue was never reported; and our panel app does not know
    the user's routes, so "the default queue" would be Celery's ``celery``, where nobody
    listens. Then the queue of the worker that ran it, when that worker (ours) consumes
    exactly one; otherwise the user names it."""
    if queue:
        return replace(retry_plan, queue=queue)
    if retry_plan.queue:
        return retry_plan
    from pooldesk.backend.workers.records import RecordStore

    worker = str(row["worker"] or "")
    record = RecordStore().load(worker.split("@", 1)[0]) if worker else None
    if record is not None and record.hostname == worker and len(record.spec.queues) == 1:
        return replace(retry_plan, queue=record.spec.queues[0])
    raise RetryError(
        f"task {row.id}: its queue was never reported (its app sends no task-sent events) "
        f"and its worker is not one of ours on a single queue; {retry_mod.ASK[asker]['queue']}"
    )
