"""What the window's Launch batch dialog asks for, and the answers it shows.

The dialog sends a :class:`ProjectRequest` as the person types; the batch service (off the GUI
thread) answers with :func:`plan_answer`: the plan and forecast, or which field is wrong and
why — the same checks ``batch run`` makes, so the window and the CLI refuse the same input.
:func:`catalog` lists the projects with the tasks and queues of their last check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pooldesk.backend.batches.items import ItemError, Items, parse_range, read_items
from pooldesk.backend.batches.project_plan import Plan, make_plan
from pooldesk.backend.batches.project_target import TargetError
from pooldesk.backend.projects.store import ProjectStore

PREVIEW_ROWS = 5


@dataclass(frozen=True)
class ProjectRequest:
    project: str
    task: str
    items_file: str = ""  # a path, or "" for the range
    range_text: str = ""
    chunk_size: int | None = None
    queue: str | None = None
    kwargs: bool = False
    token: int = 0  # the dialog shows only the answer to its latest request

    def items(self) -> Items:
        if self.items_file:
            return read_items(self.items_file, kwargs=self.kwargs)
        if not self.range_text.strip():
            raise ItemError("choose an items file or give a range A:B")
        return parse_range(self.range_text)


def _field(message: str) -> str:
    for word in ("queue", "chunk", "task", "broker", "project"):
        if word in message:
            return word if word != "broker" else "project"
    return "project"


def plan_answer(request: ProjectRequest, check_broker: bool = True) -> dict[str, Any]:
    """``{"token", "ok", "field", "error", "preview", "count", "plan", "warning"}``."""
    answer: dict[str, Any] = {"token": request.token, "ok": False, "field": None, "error": None}
    try:
        items = request.items()
    except ItemError as exc:
        return {**answer, "field": "items", "error": str(exc)}
    answer.update(preview=items.preview(PREVIEW_ROWS), count=len(items))
    if request.chunk_size is not None and request.chunk_size < 1:
        return {**answer, "field": "chunk", "error": "chunk size: must be 1 or more"}
    try:
        plan: Plan = make_plan(
            request.project,
            request.task,
            items,
            request.chunk_size,
            request.queue or None,
            check_broker=check_broker,
        )
    except TargetError as exc:
        return {**answer, "field": _field(str(exc)), "error": str(exc)}
    answer.update(ok=True, plan=plan.to_dict(), warning=plan.warning)
    answer["_plan"] = plan  # for the launch that follows; never leaves the service thread
    return answer


def catalog(store: ProjectStore | None = None) -> list[dict[str, Any]]:
    """Each project with its checked tasks (``{"name", "queue"}``); unchecked ones listed empty."""
    store = store or ProjectStore()
    out = []
    for project in store.all():
        check = store.last_check(project.name)
        tasks = [
            {"name": t["name"], "queue": t.get("queue")}
            for t in (check.tasks if check and check.ok else [])
        ]
        out.append({"name": project.name, "tasks": tasks})
    return out
