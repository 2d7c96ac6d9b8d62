"""A warning's evidence in words: short phrases with units, for the window's chips and the CLI.

The advisor keeps its evidence structured (``advise --json`` prints it as is: numbers stay
numbers, a trap's ``tasks`` stay a list of dicts). People read phrases: a window showing
``tasks: {'task': 'proyecto.tasks.generar_reporte', 'queue': …}`` as a chip (seen on a user's
project, issue 21) explains nothing. :func:`phrases` turns one evidence dict into
``held the loop 556 ms`` · ``99 % of its run`` · ``40 runs``; :func:`rows` gives the
``(label, value)`` pairs of a tooltip table. Both never show a Python repr: no ``{``, ``[``,
``'`` or ``None`` (tests/unit/test_evidence_phrases.py walks every rule's evidence).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pooldesk.backend.units import human_bytes, human_ms

MAX_PHRASES = 8

# Keys folded into another phrase, or too long for a chip (the tooltip table has them).
FOLDED = {"formula", "total_bytes", "measured_on"}


def _n(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _count(value: float, noun: str, plural: str | None = None) -> str:
    many = plural or noun + "s"
    return f"{value:,.0f} {noun if value == 1 else many}"


def _names(value: Any) -> str:
    """``["a", "b"]`` → ``"a, b"``; anything else as plain text."""
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value if v is not None)
    return plain(value)


def _percent(value: float) -> str:
    return f"{value * 100:.0f} %"


def _cores(value: float) -> str:
    return f"{value:.2f} cores used"


def _ms(value: float) -> str:
    return human_ms(float(value), ms_decimals=0)


def _runs(value: Any) -> str | None:
    """A trap's measured tasks (a list of dicts): how many runs they add up to."""
    if not isinstance(value, list | tuple) or not value:
        return None
    runs = sum(int(t.get("runs") or 0) for t in value if isinstance(t, Mapping))
    if runs:
        return _count(runs, "run")
    return _count(len(value), "task") + " measured"


# key → phrase of its value (None: leave it out).
PHRASES: dict[str, Callable[[Any], str | None]] = {
    "active_tasks": lambda v: f"{_count(v, 'task')} running",
    "available_bytes": lambda v: f"{human_bytes(int(v))} RAM free",
    "batch": lambda v: f"batch {plain(v)[:12]}",
    "blocked_reports": lambda v: _count(v, "blocked-loop report") if v else None,
    "ceiling_tasks_per_s": lambda v: f"tops out near {v:,.0f} tasks/s",
    "consumers": lambda v: f"consumed by {_names(v)}" if v else "no consumer",
    "concurrency": lambda v: f"concurrency {v:,}",
    "cores": lambda v: f"{_count(v, 'core')} here",
    "cores_used": _cores,
    "cpu_ms_per_task": lambda v: f"{v:.1f} ms CPU per task",
    "cpu_queues": lambda v: f"CPU-bound: {_names(v)}",
    "cpu_share": lambda v: f"CPU {_percent(v)} of its run",
    "crashes": lambda v: f"{_count(v, 'start')} lately",
    "error": lambda v: plain(v),
    "exit": lambda v: f"ended: {plain(v)}",
    "growth_bytes_per_min": lambda v: f"growing {human_bytes(int(v))}/min",
    "hold_max_ms": lambda v: f"held the loop {_ms(v)}",
    "hold_share": lambda v: f"held {_percent(v)} of its run",
    "loop_lag_ms_max": lambda v: f"loop lag up to {_ms(v)}",
    "nature": lambda v: f"measured {plain(v)}",
    "ping_seconds": lambda v: f"ping {v:.2f} s" if v < 10 else f"ping {v:.1f} s",
    "processes": lambda v: _count(v, "process", "processes"),
    "queue": lambda v: f"queue {plain(v)}",
    "queues": lambda v: f"{'queue' if len(v) == 1 else 'queues'} {_names(v)}" if v else None,
    "recommended": lambda v: f"fits {plain(v)}",
    "tasks": _runs,
    "tasks_per_s": lambda v: f"{v:,.1f} tasks/s",
    "uss_bytes": lambda v: f"{human_bytes(int(v))} of RAM (USS)",
    "uss_per_slot_bytes": lambda v: f"{human_bytes(int(v))} per process",
    "waiting": lambda v: f"{_count(v, 'task')} waiting",
    "waiting_children": lambda v: f"{_count(v, 'child task', 'child tasks')} waiting",
}


def plain(value: Any) -> str:
    """Any value as words: lists joined, mappings as ``k v`` pairs, no quotes, no ``None``."""
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if _n(value):
        return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}".rstrip("0").rstrip(".")
    if isinstance(value, Mapping):
        return ", ".join(f"{plain(k)} {plain(v)}" for k, v in value.items() if v is not None)
    if isinstance(value, list | tuple | set):
        return ", ".join(plain(v) for v in value if v is not None)
    return str(value).replace("'", "’").strip("{}[]")


def phrase(key: str, value: Any, evidence: Mapping[str, Any] | None = None) -> str | None:
    """One evidence item as a short phrase, or None to leave it out of the chips."""
    if value is None or value == [] or key in FOLDED:
        return None
    if key == "concurrency" and "pool" in (evidence or {}):
        return None  # said by the pool's phrase
    if key == "pool":  # "gevent × 20"
        concurrency = (evidence or {}).get("concurrency")
        return f"{plain(value)} × {concurrency}" if _n(concurrency) else f"pool {plain(value)}"
    total: Any = (evidence or {}).get("total_bytes")
    if key == "available_bytes" and _n(value) and _n(total):
        return f"{human_bytes(int(value))} of {human_bytes(int(total))} RAM free"
    make = PHRASES.get(key)
    try:
        text = make(value) if make is not None else None
    except (TypeError, ValueError, AttributeError):
        text = None  # an unexpected shape: the generic wording below
    if make is not None and text is None:
        return None
    if text is None:
        if isinstance(value, list | tuple) and value and isinstance(value[0], Mapping):
            return _count(len(value), key.replace("_", " ").rstrip("s"))
        text = f"{key.replace('_', ' ')} {plain(value)}"
    return _scrub(text)


def _scrub(text: str) -> str:
    """The last guard: a chip never carries repr punctuation."""
    for mark, instead in (("{", ""), ("}", ""), ("[", ""), ("]", ""), ("'", "’")):
        text = text.replace(mark, instead)
    return text.replace("None", "unknown")


def phrases(evidence: Mapping[str, Any], limit: int = MAX_PHRASES) -> list[tuple[str, str]]:
    """``[(key, phrase), …]`` in the evidence's order, at most ``limit``."""
    out = []
    for key, value in evidence.items():
        text = phrase(key, value, evidence)
        if text:
            out.append((key, text))
    return out[:limit]


def rows(evidence: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    """The tooltip table: every key with its exact value in words (the formula included)."""
    for key, value in evidence.items():
        if isinstance(value, list | tuple) and value and isinstance(value[0], Mapping):
            for item in value:
                yield key, plain(item)
        else:
            yield key, plain(value)
