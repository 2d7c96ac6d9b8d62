"""Numbers as people read them; shared by the CLI and the window so both say the same."""

from __future__ import annotations


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
