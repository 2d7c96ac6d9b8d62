"""Retrying a recorded task (same name, arguments and queue) and revoking a running one.

Celery's events carry arguments only as ``repr`` text, cut at 1,024 characters. They are read
back with ``ast.literal_eval`` (never ``eval``) and sent as JSON; when that cannot give back
exactly what the task got — cut, masked, not recorded, or holding values JSON cannot carry —
a plain retry is refused with the reason, and only an edited retry (arguments given as JSON,
validated before anything is sent) is possible.
"""

from __future__ import annotations

import ast
import json
import uuid
from dataclasses import dataclass
from typing import Any

from celery import Celery

from pooldesk.backend.taskhistory.normalise import MASK
from pooldesk.backend.taskhistory.query import TaskRow

REPR_LIMIT = 1024  # Celery's argsrepr_maxsize / kwargsrepr_maxsize


class RetryError(ValueError):
    """Refused before anything was sent: one sentence for the user."""


@dataclass(frozen=True)
class Rebuilt:
    args: list[Any] | None
    kwargs: dict[str, Any] | None
    reason: str | None  # why the recorded arguments cannot be sent again as they are

    @property
    def exact(self) -> bool:
        return self.reason is None


def _jsonable(value: Any) -> Any:
    """Tuples become lists (as JSON would have delivered them); anything else JSON cannot carry
    raises ``TypeError``."""
    if value is Ellipsis:
        raise ValueError("cut")
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("a dict key that is not a string")
        return {k: _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(type(value).__name__)


def _read(text: str | None, what: str, kind: type) -> tuple[Any, str | None]:
    if text is None:
        return None, f"the {what} were never seen (their events were not recorded)"
    if MASK in text:
        return None, f"a secret-looking value in the {what} was masked when recorded"
    if len(text) >= REPR_LIMIT:
        return None, f"Celery cut the {what} at {REPR_LIMIT:,} characters"
    try:
        value = _jsonable(ast.literal_eval(text))
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        if "..." in text:
            return None, f"Celery cut the {what} short ('...')"
        return None, f"the {what} are not plain data that can be read back ({text[:60]})"
    except TypeError as exc:
        if "..." in text:
            return None, f"Celery cut the {what} short ('...')"
        return None, f"the {what} hold a value JSON cannot carry ({exc})"
    if kind is list and isinstance(value, list):
        return value, None
    if kind is dict and isinstance(value, dict):
        return value, None
    return None, f"the {what} are not a {'list' if kind is list else 'mapping'}"


def rebuild(row: TaskRow) -> Rebuilt:
    if row["args_hidden"]:
        return Rebuilt(
            None, None, "arguments are not recorded (the task history is set to hide them)"
        )
    args, why_args = _read(row["args"], "positional arguments", list)
    kwargs, why_kwargs = _read(row["kwargs"], "keyword arguments", dict)
    return Rebuilt(args, kwargs, why_args or why_kwargs)


def parse_json(text: str, flag: str, kind: type) -> Any:
    """A user's edited arguments: valid JSON of the right shape, or one clear sentence."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise RetryError(f"{flag}: not valid JSON ({exc})") from None
    if kind is list and not isinstance(value, list):
        raise RetryError(f'{flag}: expected a JSON array like [1, "a"]')
    if kind is dict and not isinstance(value, dict):
        raise RetryError(f'{flag}: expected a JSON object like {{"key": 1}}')
    return value


@dataclass(frozen=True)
class RetryPlan:
    source_id: str
    name: str
    args: list[Any]
    kwargs: dict[str, Any]
    queue: str | None  # None: the app's routing decides (the queue was never reported)
    edited: bool

    def describe(self) -> str:
        """``shop.tasks.invoice(17, dry_run=False) to queue billing``: the call as the task's
        code reads it and the queue it really goes to (never "its default queue": a user's
        default queue is often one nobody consumes)."""
        where = f"queue {self.queue}" if self.queue else "the queue its app's routing picks"
        return f"{call_text(self.name, self.args, self.kwargs)} to {where}" + (
            " (edited arguments)" if self.edited else ""
        )


CALL_LIMIT = 240  # characters of a call shown in a question; the rest is "…"


def call_text(name: str, args: list[Any], kwargs: dict[str, Any], limit: int = CALL_LIMIT) -> str:
    """``invoice(17, 'ACME', dry_run=False)``: Python literals, as the task receives them."""
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    text = f"{name}({', '.join(parts)})"
    return text if len(text) <= limit else text[: limit - 2] + "…)"


# How each client lets a user give what a retry lacks: the window never quotes a CLI flag.
ASK = {
    "cli": {
        "args": "give --args (JSON)",
        "kwargs": "give --kwargs (JSON)",
        "queue": "give --queue",
    },
    "window": {
        "args": "use Edit and retry… to give them",
        "kwargs": "use Edit and retry… to give them",
        "queue": "so Pooldesk cannot tell which queue to send it to",
    },
}


def plan(
    row: TaskRow,
    args_json: str | None = None,
    kwargs_json: str | None = None,
    asker: str = "cli",
) -> RetryPlan:
    """What a retry would send; ``RetryError`` when it cannot be sent as asked (``asker``:
    ``cli`` or ``window``, how the refusal says what to do instead)."""
    ask = ASK[asker]
    if not row["name"]:
        raise RetryError(f"task {row.id}: its name was never recorded, so it cannot be sent again")
    args = parse_json(args_json, "--args", list) if args_json is not None else None
    kwargs = parse_json(kwargs_json, "--kwargs", dict) if kwargs_json is not None else None
    rebuilt = rebuild(row)
    if args is None:
        if rebuilt.args is None:
            raise RetryError(f"cannot retry as recorded: {rebuilt.reason}; {ask['args']}")
        args = rebuilt.args
    if kwargs is None:
        if rebuilt.kwargs is None:
            raise RetryError(f"cannot retry as recorded: {rebuilt.reason}; {ask['kwargs']}")
        kwargs = rebuilt.kwargs
    edited = args_json is not None or kwargs_json is not None
    return RetryPlan(row.id, str(row["name"]), args, kwargs, row["queue"], edited)


def send(app: Celery, retry: RetryPlan) -> str:
    """Send the task again (a new id); returns the new id."""
    new_id = str(uuid.uuid4())
    options: dict[str, Any] = {"task_id": new_id}
    if retry.queue:
        options["queue"] = retry.queue
    app.send_task(retry.name, args=tuple(retry.args), kwargs=retry.kwargs, **options)
    return new_id


def revoke(app: Celery, task_id: str, terminate: bool = False) -> None:
    """Revoke (not started yet: it will not run) or terminate (running: SIGTERM its process)."""
    app.control.revoke(task_id, terminate=terminate, signal="SIGTERM")
