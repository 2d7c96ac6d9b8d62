"""The batch layer's one error for people (its own module: the services and followers share it)."""

from __future__ import annotations


class BatchError(RuntimeError):
    """A request about a batch that cannot be carried out, phrased for a person."""


def first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def interrupted(doing: str, batch_id: str, exc: BaseException, what: str = "the broker") -> str:
    """A fault under a cancel or a retry whose every step can be taken again (the demo's and a
    project batch's alike): said once, in the same words, wherever it happens."""
    again = "cancel" if doing == "cancelling" else "retry"
    return (
        f"{what} failed while {doing} batch {batch_id[:12]} ({first_line(exc)}): "
        f"nothing was lost; {again} again"
    )
