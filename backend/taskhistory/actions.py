"""What a user can do to a recorded task, for the CLI and the window alike: retry (as recorded
or edited), retry a whole failure group, revoke or terminate. Everything that can be refused is
checked before the first message is sent, so a refusal sends nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from celery import Celery

from backend.broker.resolve import BrokerConfig, ensure_broker
from backend.celery_app import PANEL_PUBLISH_RETRY, make_app
from backend.taskhistory import retry as retry_mod
from backend.taskhistory.query import TaskQuery, TaskRow
from backend.taskhistory.retry import RetryError, RetryPlan
from backend.taskhistory.service import broker_key

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
    def __init__(self, query: TaskQuery | None = None, config: BrokerConfig | None = None) -> None:
        self.query = query or TaskQuery()
        self._config = config
        self._app: Celery | None = None

    @property
    def config(self) -> BrokerConfig:
        if self._config is None:
            self._config = ensure_broker()
        return self._config

    @property
    def app(self) -> Celery:
        if self._app is None:
            app = make_app(self.config.broker_url, self.config.result_backend, include=[])
            app.conf.task_publish_retry_policy = PANEL_PUBLISH_RETRY
            self._app = app
        return self._app

    def close(self) -> None:
        if self._app is not None:
            self._app.close()
            self._app = None
        self.query.close()

    def find(self, task_id: str) -> TaskRow:
        rows = self.query.get(task_id)
        if not rows:
            raise RetryError(f"no task {task_id!r} in the task history")
        if len(rows) > 1:
            raise RetryError(f"{task_id!r} matches several tasks; give more of the id")
        return rows[0]

    def _same_broker(self, row: TaskRow) -> None:
        url = self.config.broker_url
        if url and row["broker"] and row["broker"] != broker_key(url):
            raise RetryError(
                f"task {row.id} ran on another broker than the one configured now; "
                "switch back to it to retry"
            )

    def plan(
        self, task_id: str, args_json: str | None = None, kwargs_json: str | None = None
    ) -> RetryPlan:
        row = self.find(task_id)
        retry_plan = retry_mod.plan(row, args_json, kwargs_json)
        self._same_broker(row)
        return retry_plan

    def retry(
        self, task_id: str, args_json: str | None = None, kwargs_json: str | None = None
    ) -> Sent:
        retry_plan = self.plan(task_id, args_json, kwargs_json)
        return Sent(retry_plan.source_id, retry_mod.send(self.app, retry_plan), retry_plan)

    def plan_group(self, group: str) -> tuple[list[RetryPlan], list[tuple[str, str]]]:
        """Plans for every failed task of a failure group, and (id, reason) of those that can
        only be retried with edited arguments (they are left out)."""
        plans, skipped = [], []
        for task_id in self.query.group_ids(group, MAX_GROUP_RETRY):
            row = self.find(task_id)
            try:
                plans.append(retry_mod.plan(row))
                self._same_broker(row)
            except RetryError as exc:
                skipped.append((task_id, str(exc)))
        return plans, skipped

    def retry_plans(self, plans: list[RetryPlan]) -> list[Sent]:
        return [Sent(p.source_id, retry_mod.send(self.app, p), p) for p in plans]

    def revoke(self, task_id: str, terminate: bool = False) -> TaskRow:
        row = self.find(task_id)
        self._same_broker(row)
        retry_mod.revoke(self.app, row.id, terminate)
        return row
