"""How the CLI speaks: one line on stderr for errors, stable JSON on stdout for ``--json``."""

from __future__ import annotations

import json
import sys
from typing import Any

from pooldesk.backend.redact import mask_text
from pooldesk.backend.units import human_bytes

__all__ = ["emit_json", "fail", "human_bytes", "table"]


def fail(message: str, code: int = 1, secrets: list[str] | None = None) -> int:
    line = mask_text(" ".join(message.split()), secrets or [])
    print(f"pooldesk: {line}", file=sys.stderr)
    return code


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)
