"""Numbers as people read them; shared by the CLI and the window so both say the same."""

from __future__ import annotations

# The binary units every byte count is shown or configured in (the charts, thresholds, rules).
KiB = 2**10
MiB = 2**20
GiB = 2**30


def human_bytes(value: int | None, missing: str = "-") -> str:
    """``1258291`` → ``"1.2 MiB"`` (binary units)."""
    if value is None:
        return missing
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def human_ms(value: float, ms_decimals: int = 0) -> str:
    """A duration given in milliseconds: ``36255`` → ``"36.3 s"``, ``812.5`` → ``"812 ms"``
    (``"812.5 ms"`` with ``ms_decimals=1``). Seconds from one second up, milliseconds below."""
    if abs(value) >= 999.5:  # 999.6 ms would otherwise read "1000 ms"
        return f"{value / 1000:.1f} s"
    return f"{value:.{ms_decimals}f} ms"


def plural(count: int | float, noun: str, many: str | None = None) -> str:
    """``plural(1, "task")`` → ``"1 task"``, ``plural(1200, "process", "processes")`` →
    ``"1,200 processes"``: every count the window or the CLI shows reads right, never "(s)"."""
    word = noun if count == 1 else (many or noun + "s")
    number = f"{count:,}" if isinstance(count, int) else f"{count:,.1f}"
    return f"{number} {word}"


def ago(seconds: float) -> str:
    """How long ago, in the words the CLI and the window both print: ``"just now"``,
    ``"42 s ago"``, ``"3 min ago"``, ``"5 h ago"``, ``"2 days ago"``. A time slightly in the
    future (another host's clock) reads "just now" rather than a negative age."""
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{seconds:.0f} s ago"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min ago"
    if seconds < 86400:
        return f"{seconds // 3600:.0f} h ago"
    days = int(seconds // 86400)
    return f"{plural(days, 'day')} ago"
