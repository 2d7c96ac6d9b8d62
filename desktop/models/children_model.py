"""The children of the selected batch: one row per chunk of customers or per URL, failures first,
then running, pending, cancelled and succeeded ones, each group by index.

Rows are the dicts :class:`~pooldesk.desktop.services.batches.BatchController` sends: ``index``,
``id``, ``state`` (a Celery state), and when known ``reason``, ``customers`` or ``url``, and the
child's lean ``result``. While a batch runs only index, state and reason are known (the result
backend's progress carries no more); the finished batch's summary fills in the rest.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt

from pooldesk.desktop import resources
from pooldesk.desktop.formatting import DASH
from pooldesk.desktop.models.table import Columns, TableModel

COLUMNS = ("#", "State", "Detail", "Result", "Reason")
NUMBER, STATE, DETAIL, RESULT, REASON = range(len(COLUMNS))
CELERY_STATES = {
    "PENDING": "pending",
    "RECEIVED": "pending",
    "STARTED": "running",
    "RETRY": "retrying",
    "SUCCESS": "succeeded",
    "FAILURE": "failed",
    "REVOKED": "cancelled",
    "LOST": "failed",  # project batches: its worker died mid-run and the app acks early
    "REDELIVERED": "pending",  # … and acks late: the broker hands it out again
    "UNSENT": "pending",
}
COLOUR_OF = {
    "pending": "stopped",
    "running": "starting",
    "retrying": "stopping",
    "succeeded": "online",
    "failed": "crashed",
    "cancelled": "stopped",
}

# What needs a look comes first: failures, then what is running, then what waits.
ORDER = {"failed": 0, "retrying": 1, "running": 2, "pending": 3, "cancelled": 4, "succeeded": 5}


def child_row(kind: str, child: dict[str, Any]) -> dict[str, Any]:
    """A row for this model from a child of ``BatchService.children``: index, state, reason,
    what it worked on (from its args) and its result without the bulky lists."""
    row = {k: child[k] for k in ("index", "id", "state", "reason") if k in child}
    if kind == "project":  # a user's task: the items it covered, its result as it is
        first, last = child.get("range") or child.get("items") or ("", "")
        row["covers"] = f"{'values' if 'range' in child else 'items'} {first}–{last}"
        if "result" in child:
            row["value"] = child["result"]
        return row
    args = child.get("args") or []
    result = dict(child.get("result") or {})
    if kind == "invoices":
        if len(args) > 2 and isinstance(args[2], list):
            row["customers"] = len(args[2])
        elif "customers" in result:
            row["customers"] = result["customers"]
        result.pop("missing_customers", None)
        result.pop("errors", None)
    elif child.get("url") or result.get("url") or len(args) > 2:
        row["url"] = child.get("url") or result.get("url") or args[2]
    if result:
        row["result"] = result
    return row


def child_state(child: dict[str, Any]) -> str:
    state = CELERY_STATES.get(str(child.get("state")), str(child.get("state", "?")).lower())
    return "failed" if state == "succeeded" and child.get("reason") else state


def detail(child: dict[str, Any]) -> str:
    if child.get("covers"):
        return str(child["covers"])
    if child.get("url"):
        return str(child["url"])
    if child.get("customers") is not None:
        n = int(child["customers"])
        return f"{n:,} customer{'s' if n != 1 else ''}"
    return DASH


def result_text(child: dict[str, Any]) -> str:
    if "value" in child:  # a project task's own result: JSON, or Celery's repr of it
        text = child["value"] if isinstance(child["value"], str) else json.dumps(child["value"])
        return text if len(text) <= 80 else text[:79] + "…"
    result = child.get("result") or {}
    if not result:
        return DASH
    if "status_code" in result or "error_class" in result:  # a URL check
        latency = result.get("latency_ms")
        parts = [str(result.get("status_code") or result.get("error_class") or "no answer")]
        if latency is not None:
            parts.append(f"{latency:,.0f} ms")
        if result.get("redirects"):
            parts.append(f"{result['redirects']} redirect{'s' if result['redirects'] > 1 else ''}")
        return " · ".join(parts)
    if "created" in result:  # an invoice chunk
        text = f"{result.get('created', 0):,} created, {result.get('skipped', 0):,} skipped"
        per = result.get("seconds_per_invoice")
        return f"{text} · {per * 1000:.1f} ms/invoice" if per else text
    return DASH


def cells(child: dict[str, Any]) -> tuple[str, ...]:
    return (
        str(child.get("index", "")),
        child_state(child),
        detail(child),
        result_text(child),
        str(child.get("reason") or ""),
    )


class ChildrenModel(TableModel):
    spec = Columns(COLUMNS, frozenset({NUMBER}))
    _rows: list[dict[str, Any]]

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.batch_id = ""

    def role_data(self, child: dict[str, Any], row: int, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ToolTipRole and column in (DETAIL, RESULT, REASON):
            return self._cells[row][column] or None
        if column == STATE and role == Qt.ItemDataRole.ForegroundRole:
            return resources.state_color(COLOUR_OF.get(self._cells[row][STATE], "stopped"))
        if column == REASON and role == Qt.ItemDataRole.ForegroundRole:
            return resources.state_color("crashed")
        return None

    def child(self, row: int) -> dict[str, Any] | None:
        return self.row_at(row)

    def set_children(self, batch_id: str, children: list[dict[str, Any]]) -> None:
        """Same batch and row count: change cells in place (the selection stays); else reset."""
        rows = sorted(
            children, key=lambda c: (ORDER.get(child_state(c), 9), int(c.get("index", 0)))
        )
        new_cells = [cells(c) for c in rows]
        if batch_id == self.batch_id and len(rows) == len(self._rows):
            old = self._cells
            self._rows, self._cells = rows, new_cells
            changed = [r for r in range(len(rows)) if old[r] != new_cells[r]]
            if changed:
                last = len(COLUMNS) - 1
                self.dataChanged.emit(self.index(min(changed), 0), self.index(max(changed), last))
            return
        self.beginResetModel()
        self.batch_id, self._rows, self._cells = batch_id, rows, new_cells
        self.endResetModel()

    def clear(self) -> None:
        self.set_children("", [])
