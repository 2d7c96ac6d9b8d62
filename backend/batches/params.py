"""Launch parameters, validated before anything is sent: bad input launches nothing."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from pooldesk.backend.invoices.billing import validate_period
from pooldesk.backend.monitoring.urls import validate_url

QUEUE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
MAX_CHUNK = 100_000
MAX_CUSTOMERS = 10_000_000
MAX_URLS = 100_000
MAX_URLS_PER_TASK = 1000  # one task's checks share its time limit and its result


class ParamError(ValueError):
    """Every problem with a launch, for the form or the CLI to show at once."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _queue_problem(queue: object) -> list[str]:
    if isinstance(queue, str) and not queue.strip():
        return ["queue: give the name of the queue its tasks go to"]
    if not isinstance(queue, str) or not QUEUE_RE.match(queue):
        return [f"queue {queue!r}: use letters, digits, '_', '.' or '-'"]
    return []


@dataclass(frozen=True)
class InvoiceParams:
    """``customers=None`` means every customer in the database (``--all``)."""

    period: str
    customers: int | None = None
    chunk_size: int = 500
    queue: str = "invoices"

    def validate(self) -> InvoiceParams:
        problems: list[str] = []
        if self.customers is not None and (
            not _whole(self.customers) or not 1 <= self.customers <= MAX_CUSTOMERS
        ):
            problems.append(f"customers {self.customers!r}: must be a whole number >= 1")
        if not _whole(self.chunk_size) or not 1 <= self.chunk_size <= MAX_CHUNK:
            problems.append(
                f"chunk size {self.chunk_size!r}: must be a whole number from 1 to {MAX_CHUNK:,}"
            )
        try:
            validate_period(self.period)
        except (ValueError, TypeError) as exc:
            problems.append(f"period: {exc}")
        problems += _queue_problem(self.queue)
        if problems:
            raise ParamError(problems)
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MonitorParams:
    urls: tuple[str, ...] = field(default_factory=tuple)
    timeout: float = 10.0  # read timeout per request; connect timeout is min(3, timeout)
    queue: str = "monitoring"
    urls_per_task: int | None = None  # None: chosen from the list's size (backend.batches.plan)

    def validate(self) -> MonitorParams:
        problems: list[str] = []
        if not self.urls:
            problems.append("urls: give at least one http:// or https:// URL")
        if len(self.urls) > MAX_URLS:
            problems.append(f"urls: at most {MAX_URLS:,} per batch")
        for number, url in enumerate(self.urls[:MAX_URLS], start=1):
            try:
                validate_url(url)
            except ValueError as exc:
                problems.append(f"url {number}: {exc}")
        timeout = self.timeout
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not (0.1 <= timeout <= 300)
        ):
            problems.append(f"timeout {timeout!r}: must be between 0.1 and 300 seconds")
        problems += _queue_problem(self.queue)
        if self.urls_per_task is not None and (
            not _whole(self.urls_per_task) or not 1 <= self.urls_per_task <= MAX_URLS_PER_TASK
        ):
            problems.append(
                f"URLs per task {self.urls_per_task!r}: must be a whole number from 1 to "
                f"{MAX_URLS_PER_TASK:,}"
            )
        if problems:
            raise ParamError(
                problems[:20] + ([f"… and {len(problems) - 20} more"] if len(problems) > 20 else [])
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["urls"] = list(self.urls)
        return data
