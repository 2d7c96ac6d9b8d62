"""How an operation speaks: what it is doing ("Stopping w1…"), and a failure as a sentence with
its class (bad input, refused, error), the same for the status bar, the CLI and the agent."""

from __future__ import annotations

from pooldesk.backend.operations.request import ERROR, INVALID, REFUSED, RequestError
from pooldesk.backend.workers.control import ControlError
from pooldesk.backend.workers.info import WorkerError
from pooldesk.backend.workers.spec import SpecError

DOING = {
    "start": "Starting",
    "stop": "Stopping",
    "stop_now": "Not waiting for the running tasks of",
    "restart": "Restarting",
    "resize": "Resizing",
    "queues": "Changing the queues of",
    "logs": "Reading the log of",
    "forget": "Forgetting",
    "apply_fix": "Applying the fix to",
}


def doing(op: str, name: str) -> str:
    """ "Stopping w1…": what a pending request is doing, for a status line."""
    return f"{DOING.get(op, op.capitalize())} {name}…"


def reason_for(exc: BaseException) -> str:
    """How a failure is classed: bad input (exit 2 in the CLI), refused, or an error."""
    from pooldesk.backend.broker.errors import BrokerError
    from pooldesk.backend.projects.model import ProjectError

    if isinstance(exc, SpecError | ProjectError | RequestError):
        return INVALID
    if isinstance(exc, WorkerError | BrokerError | ControlError):
        return REFUSED
    return ERROR


def message(exc: BaseException) -> str:
    """An exception as a sentence: its message; an unexpected one keeps its type in front."""
    text = str(exc).strip() or type(exc).__name__
    expected = reason_for(exc) != ERROR or isinstance(exc, OSError)
    return text if expected else f"{type(exc).__name__}: {text}"
