"""The one free-name scheme: ``invoices-1``, then ``invoices-2``… for whoever picks a name.

The Start dialog's suggestion, a preset's start and the advisor's "start a worker for this
queue" fix all need a worker name nobody has; each used to count in its own way (one from 1, one
from 2 after cutting the last ``-N``), so the same queue could get ``invoices-1`` from one and
``invoices-2`` from the other. Here is the one rule: cut a trailing ``-N`` from the base, make
the rest a valid worker name, and take the first ``base-N`` (N from 1) that is not taken.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pooldesk.backend.workers.spec import NAME_RE

_NUMBERED = re.compile(r"^(?P<stem>.+)-(?P<n>[0-9]+)$")
_STEM_MAX = 56  # room for "-NNNNNNN" within the 64 characters of a name


def stem(base: str) -> str:
    """``"invoices-3"`` → ``"invoices"``; anything not allowed in a name becomes ``-``."""
    text = str(base).strip()
    numbered = _NUMBERED.match(text)
    if numbered:
        text = numbered["stem"]
    cleaned = "".join(c if c.isalnum() or c in "_.-" else "-" for c in text).strip(".-")
    return cleaned[:_STEM_MAX].strip(".-") or "worker"


def free_name(base: str, taken: Iterable[str], keep: bool = False) -> str:
    """The first ``stem(base)-N`` (N = 1, 2, …) not in ``taken``; ``keep``: ``base`` itself
    while it is free (an advisor's fix names its worker ``fit_cpu-prefork``)."""
    used = set(taken)
    if keep and base not in used and NAME_RE.match(base):
        return base
    root = stem(base)
    n = 1
    while f"{root}-{n}" in used:
        n += 1
    name = f"{root}-{n}"
    return name if NAME_RE.match(name) else f"worker-{n}"
