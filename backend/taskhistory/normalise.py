"""One Celery task event → the columns it sets in the history, with secrets kept out.

Celery reports arguments and results as ``repr`` strings (``argsrepr``/``kwargsrepr``, cut at
1,024 characters by ``saferepr``), exceptions as ``repr`` and tracebacks as text. Everything the
recorder stores passes through here, so masking happens in exactly one place: keys that look
like secrets are always masked, and with ``hide_args`` arguments and results are not stored at
all (name, timing, state and exception stay).
"""

from __future__ import annotations

import re
import time
from typing import Any

from pooldesk.backend.batches.children import batch_of
from pooldesk.backend.redact import mask_url

MAX_REPR = 4096  # Celery cuts at 1,024 already; this bounds what a custom task may send
MAX_TRACEBACK = 32 * 1024
MASK = "'****'"

# ``'password': 'x'`` / ``"api_key": 123`` inside a dict repr: the value is masked.
_SECRET_KEY = (
    r"[\w-]*(?:pass(?:word|wd)?|secret|token|api[_-]?key|credential|auth|private[_-]?key|pwd)"
    r"[\w-]*"
)
_SECRET_ITEM = re.compile(
    r"""(?P<key>(['"])""" + _SECRET_KEY + r"""\2\s*:\s*)"""
    r"""(?P<value>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|b'(?:[^'\\]|\\.)*'|[^,}\]\)]+)""",
    re.IGNORECASE,
)

STATE_OF_EVENT = {
    "task-sent": "PENDING",
    "task-received": "RECEIVED",
    "task-started": "STARTED",
    "task-retried": "RETRY",
    "task-succeeded": "SUCCESS",
    "task-failed": "FAILURE",
    "task-revoked": "REVOKED",
    "task-rejected": "REJECTED",
}
# A later event may arrive first (the client's task-sent after the worker's task-received):
# a state only replaces one of lower rank, or any non-final one when it is newer.
RANK = {
    "PENDING": 0,
    "RECEIVED": 1,
    "STARTED": 2,
    "RETRY": 3,
    "SUCCESS": 4,
    "FAILURE": 4,
    "REVOKED": 4,
    "REJECTED": 4,
}
FINAL_RANK = 4

_EXC_TYPE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*\(")
# A quoted value starts where no word character precedes the quote, so the apostrophe in
# "can't" or "customer's" never opens one (that garbled "can't multiply sequence by non-int of
# type 'str'" into "can<str>str'"). A number stands alone: the 8 in "utf8" or the 2 in
# "[Errno 2]" tells the failure apart and stays.
_QUOTED = re.compile(r"""(?<![\w'"])(?:'[^'\n]*'|"[^"\n]*")(?!\w)""")
_OSERROR_ARGS = re.compile(r"""^(?P<errno>-?\d+), (?P<q>['"])(?P<text>.*)(?P=q)$""")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?!\w)")
# Quoted type names say what went wrong ("'NoneType' object is not iterable", "unsupported
# operand type(s) for +: 'int' and 'str'"), not which value it happened to: they are kept.
_TYPE_NAMES = frozenset(
    [
        "int",
        "str",
        "float",
        "bytes",
        "bytearray",
        "list",
        "dict",
        "tuple",
        "set",
        "frozenset",
        "bool",
        "complex",
        "NoneType",
        "function",
        "method",
        "module",
        "type",
        "object",
        "range",
        "memoryview",
        "generator",
        "coroutine",
    ]
)
_VOLATILE = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I), "<id>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<hex>"),
]


def _quoted(match: re.Match[str]) -> str:
    """A quoted value becomes ``<str>`` unless it names a type (``'X' object``, ``'int'``)."""
    inner = match.group(0)[1:-1]
    follows = match.string[match.end() : match.end() + 7]
    if inner in _TYPE_NAMES or (inner.isidentifier() and follows == " object"):
        return match.group(0)
    return "<str>"


def _number(match: re.Match[str]) -> str:
    """A number becomes ``<n>``, except an errno (``[Errno 2]`` is "no such file")."""
    return match.group(0) if match.string[: match.start()].endswith("[Errno ") else "<n>"


def mask_secrets(text: str | None) -> str | None:
    """Mask the values of secret-looking keys and passwords inside URLs; always applied."""
    if text is None:
        return None
    text = _SECRET_ITEM.sub(lambda m: f"{m['key']}{MASK}", text)
    return mask_url(text) or text


def _clip(text: Any, limit: int = MAX_REPR) -> str | None:
    if text is None:
        return None
    text = text if isinstance(text, str) else repr(text)
    return text if len(text) <= limit else text[:limit] + "..."


def exception_type(exception: str | None) -> str | None:
    """``ValueError('bad')`` → ``ValueError``; ``None`` when it is not a call-shaped repr."""
    if not exception:
        return None
    match = _EXC_TYPE.match(exception)
    return match.group(1) if match else exception.split(":", 1)[0].strip()[:80] or None


def failure_group(exception: str | None) -> str | None:
    """Exception type + message with the varying parts (ids, numbers, quoted values) replaced,
    so "Customer 17 not found" and "Customer 912 not found" fall into one group."""
    if not exception:
        return None
    kind = exception_type(exception) or "Exception"
    match = _EXC_TYPE.match(exception)
    message = exception[match.end() : -1] if match and exception.endswith(")") else exception
    message = message.strip().rstrip(",")
    oserror = _OSERROR_ARGS.match(message)
    if oserror:  # OSError(2, 'No such file or directory'): what str() of it says
        message = f"[Errno {oserror['errno']}] {oserror['text']}"
    elif kind.endswith("KeyError") and _QUOTED.fullmatch(message) and " " not in message:
        message = "<str>"  # KeyError('customer_42'): the missing key itself, not a sentence
    if len(message) >= 2 and message[0] == message[-1] and message[0] in "'\"":
        quote = message[0]
        message = message[1:-1].replace("\\" + quote, quote)  # the message, not a value in it
    for pattern, token in _VOLATILE:
        message = pattern.sub(token, message)
    message = _QUOTED.sub(_quoted, message)
    message = _NUMBER.sub(_number, message)
    return f"{kind}: {' '.join(message.split())[:200]}"


def row_of(event: dict[str, Any], hide_args: bool, broker: str) -> dict[str, Any] | None:
    """The columns one task event sets; ``None`` for events that are not about a task."""
    kind = event.get("type", "")
    state = STATE_OF_EVENT.get(kind)
    task_id = event.get("uuid")
    if state is None or not task_id:
        return None
    ts = float(event.get("timestamp") or event.get("local_received") or time.time())
    row: dict[str, Any] = {
        "id": str(task_id),
        "broker": broker,
        "state": state,
        "rank": RANK[state],
        "state_ts": ts,
        "first_ts": ts,
        "updated_ts": ts,
    }
    if kind in ("task-sent", "task-received"):
        row["name"] = event.get("name")
        row["root_id"] = event.get("root_id")
        row["parent_id"] = event.get("parent_id")
        row["retries"] = event.get("retries") or 0
        row["eta"] = event.get("eta")
        if "." in str(task_id):
            row["batch"] = batch_of(str(task_id))
        if hide_args:
            row["args_hidden"] = 1
        else:
            row["args"] = mask_secrets(_clip(event.get("args")))
            row["kwargs"] = mask_secrets(_clip(event.get("kwargs")))
    if kind == "task-sent":
        row["sent_ts"] = ts
        row["queue"] = event.get("queue") or event.get("routing_key")
    else:
        row["worker"] = event.get("hostname")
    if kind == "task-received":
        row["received_ts"] = ts
    elif kind == "task-started":
        row["started_ts"] = ts
        row["started_first_ts"] = ts
    elif kind == "task-succeeded":
        row["ended_ts"] = ts
        row["runtime"] = event.get("runtime")
        if not hide_args:
            row["result"] = mask_secrets(_clip(event.get("result")))
    elif kind in ("task-failed", "task-retried"):
        exception = _clip(event.get("exception"))
        row["exception"] = mask_secrets(exception)
        row["exc_type"] = exception_type(exception)
        row["exc_group"] = mask_secrets(failure_group(exception))
        row["traceback"] = mask_secrets(_clip(event.get("traceback"), MAX_TRACEBACK))
        if kind == "task-failed":
            row["ended_ts"] = ts
    elif kind in ("task-revoked", "task-rejected"):
        row["ended_ts"] = ts
        if event.get("terminated"):
            row["exception"] = f"terminated (signal {event.get('signum')})"
        elif event.get("expired"):
            row["exception"] = "expired"
    return row
