"""The batch layer's one error for people (its own module: the services and followers share it)."""

from __future__ import annotations


class BatchError(RuntimeError):
    """A request about a batch that cannot be carried out, phrased for a person."""
