"""What a caller asks for (:class:`Request`) and what it gets back (:class:`Outcome`), as JSON.

Both travel: the window's service builds a request in its thread, the CLI in its process, and the
fleet agent receives one as JSON over the broker and sends the outcome back the same way. So both
are plain data with ``to_json``/``from_json``, and a request is checked when it is read: a wrong
op, a missing parameter or a value of the wrong type is a :class:`RequestError` that names the
field (bad input gets a clear message and changes nothing), before any worker is touched.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

OPS = (
    "start",
    "stop",
    "stop_now",
    "restart",
    "resize",
    "queues",
    "logs",
    "forget",
    "apply_fix",
)
STATES = ("pending", "done", "failed")
State = Literal["pending", "done", "failed"]

# Why a request failed, for a caller that maps it (the CLI: ``invalid`` is exit 2, the rest 1).
INVALID = "invalid"  # bad input: a spec problem, a project that does not check out
REFUSED = "refused"  # not possible now: unknown worker, already running, stopping…
CRASHED = "crashed"  # the worker ended while starting
TIMEOUT = "timeout"  # it did not answer ping in time
ERROR = "error"  # anything else (a bug or an outage)

# The parameters each op understands, with the JSON types they may take (None: null allowed).
_NUM = (int, float)
PARAMS: dict[str, dict[str, tuple[type, ...]]] = {
    # start: the WorkerSpec's fields (``WorkerSpec.to_dict``), plus how long to watch it.
    "start": {
        "pool": (str,),
        "concurrency": (int,),
        "queues": (list,),
        "autoscale": (list, type(None)),
        "app": (str,),
        "project": (str, type(None)),
        "extra_env": (dict,),
        "loglevel": (str,),
        "max_tasks_per_child": (int, type(None)),
        "max_memory_per_child": (int, type(None)),
        "time_limit": (*_NUM, type(None)),
        "soft_time_limit": (*_NUM, type(None)),
        "extra_args": (list,),
        "soft_shutdown_timeout": (*_NUM, type(None)),
        "soft_shutdown_on_idle": (bool,),
        "disable_prefetch": (bool,),
        "eta_task_limit": (int, type(None)),
        "name": (str,),  # ignored: the request's name is the worker's
        "wait": (bool,),  # False: done once spawned (the CLI's --no-wait)
        "timeout": (*_NUM, type(None)),  # seconds to answer ping (default: the settings')
        "stop_if_late": (bool,),  # not online in time: stop it again (the CLI's promise)
        "free_name": (bool,),  # the name is taken: take the next free one (name-1, name-2…)
    },
    "stop": {"cold": (bool,), "timeout": (*_NUM, type(None))},
    "stop_now": {},
    # restart: only the fields that change; the rest is kept from the running worker's spec.
    "restart": {
        "pool": (str, type(None)),
        "concurrency": (int, type(None)),
        "queues": (list, type(None)),
        "autoscale": (list, type(None)),
        "loglevel": (str, type(None)),
        "max_tasks_per_child": (int, type(None)),
        "max_memory_per_child": (int, type(None)),
        "time_limit": (*_NUM, type(None)),
        "soft_time_limit": (*_NUM, type(None)),
        "extra_args": (list, type(None)),
        "soft_shutdown_timeout": (*_NUM, type(None)),
        "soft_shutdown_on_idle": (bool, type(None)),
        "disable_prefetch": (bool, type(None)),
        "eta_task_limit": (int, type(None)),
        "timeout": (*_NUM, type(None)),
        "stop_if_late": (bool,),
    },
    "resize": {"concurrency": (int,), "current": (int, type(None))},
    "queues": {"queues": (list,)},
    "logs": {"lines": (int,)},
    "forget": {},
    "apply_fix": {"kind": (str,), "params": (dict,)},
}
REQUIRED = {"resize": ("concurrency",), "queues": ("queues",), "apply_fix": ("kind",)}
MAX_NAME = 255  # a worker name, or NAME@HOST of a remote Celery node


class RequestError(ValueError):
    """A request that cannot be read: the message names the field and what was wrong."""


def json_object(data: Any, what: str, needs: str = "") -> dict[str, Any]:
    """``data`` (a dict, or its JSON text) as a dict; anything else is a :class:`RequestError`
    naming ``what`` ("request", "outcome") — the agent reads both off the broker."""
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise RequestError(f"{what}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise RequestError(f"{what}: give a JSON object" + (f" {needs}" if needs else ""))
    return data


@dataclass(frozen=True)
class Request:
    """One operation on one worker. ``params`` holds JSON values only (see :data:`PARAMS`);
    ``id`` ties the outcomes back to it (a fresh one unless given)."""

    op: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        check(self)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "op": self.op, "name": self.name, "params": dict(self.params)}

    @classmethod
    def from_json(cls, data: Any) -> Request:
        """From a dict (or its JSON text); anything wrong is a :class:`RequestError`."""
        data = json_object(data, "request", "with op, name and params")
        unknown = sorted(set(data) - {"id", "op", "name", "params"})
        if unknown:
            raise RequestError(f"request: unknown field(s) {', '.join(unknown)}")
        rid = data.get("id")
        if rid is not None and (not isinstance(rid, str) or not 1 <= len(rid) <= 64):
            raise RequestError("id: a string of 1-64 characters")
        params = data.get("params", {})
        if params is None:
            params = {}
        return cls(
            op=data.get("op"),  # any JSON value: __post_init__ checks it
            name=data.get("name"),
            params=params,
            **({"id": rid} if rid else {}),
        )


def check(request: Request) -> None:
    """Every problem of ``request``'s shape (not whether the worker exists: that is the
    operation's to say)."""
    if request.op not in OPS:
        raise RequestError(f"op {request.op!r}: choose one of {', '.join(OPS)}")
    if not isinstance(request.name, str) or not 1 <= len(request.name) <= MAX_NAME:
        raise RequestError(f"name {request.name!r}: give the worker's name")
    if not isinstance(request.params, dict):
        raise RequestError("params: give a JSON object")
    known = PARAMS[request.op]
    problems = []
    for key, value in request.params.items():
        if key not in known:
            problems.append(f"params.{key}: not a parameter of {request.op}")
        elif not isinstance(value, known[key]) or (
            isinstance(value, bool) and bool not in known[key]  # True is an int to Python
        ):
            problems.append(f"params.{key}: {value!r} is not a {_types(known[key])}")
    for key in REQUIRED.get(request.op, ()):
        if key not in request.params:
            problems.append(f"params.{key}: required for {request.op}")
    try:
        json.dumps(request.params)
    except (TypeError, ValueError):
        problems.append("params: JSON values only")
    if problems:
        raise RequestError("; ".join(problems))


def _types(types: tuple[type, ...]) -> str:
    names = {
        int: "whole number",
        float: "number",
        str: "string",
        bool: "true/false",
        list: "list",
        dict: "object",
        type(None): "null",
    }
    return " or ".join(dict.fromkeys(names.get(t, t.__name__) for t in types))


@dataclass(frozen=True)
class Outcome:
    """Where a request stands. ``pending``: under way (a later :meth:`Operations.tick` reports
    it done or failed); ``text`` is one plain sentence for a person, secrets masked; ``data``
    holds JSON values (``worker``: the worker's info, ``lines``: log lines, ``reason``: why it
    failed, one of invalid/refused/crashed/timeout/error)."""

    id: str
    op: str
    name: str
    state: State
    ok: bool
    text: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        return self.state != "pending"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "op": self.op,
            "name": self.name,
            "state": self.state,
            "ok": self.ok,
            "text": self.text,
            "data": dict(self.data),
        }

    @classmethod
    def from_json(cls, data: Any) -> Outcome:
        data = json_object(data, "outcome")
        state = data.get("state")
        if state not in STATES:
            raise RequestError(f"outcome state {state!r}: one of {', '.join(STATES)}")
        fields = {"id": str, "op": str, "name": str, "text": str}
        for key, kind in fields.items():
            if not isinstance(data.get(key), kind):
                raise RequestError(f"outcome {key}: a string")
        if not isinstance(data.get("ok"), bool):
            raise RequestError("outcome ok: true or false")
        extra = data.get("data") or {}
        if not isinstance(extra, dict):
            raise RequestError("outcome data: a JSON object")
        return cls(
            data["id"], data["op"], data["name"], state, data["ok"], data["text"], dict(extra)
        )


def pending(request: Request, text: str, **data: Any) -> Outcome:
    return Outcome(request.id, request.op, request.name, "pending", True, text, data)


def done(request: Request, text: str, **data: Any) -> Outcome:
    return Outcome(request.id, request.op, request.name, "done", True, text, data)


def failed(request: Request, text: str, reason: str = ERROR, **data: Any) -> Outcome:
    return Outcome(
        request.id, request.op, request.name, "failed", False, text, {"reason": reason, **data}
    )
