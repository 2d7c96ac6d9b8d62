"""How long a project batch will take, by pool, before it starts (stub; see i19-forecast)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Consumer:
    name: str
    pool: str
    concurrency: int


def forecast_batch(
    *,
    project: str | None,
    task: str,
    queue: str,
    items: int,
    children: int,
    consumers: list[Consumer],
    timeout_s: float = 3.0,
) -> dict[str, Any]:
    """Returns {"forecast": [ {"pool","concurrency","seconds","current","basis"} ... ],
    "forecast_reason": str | None}."""
    return {"forecast": [], "forecast_reason": "this task has not been measured yet"}
