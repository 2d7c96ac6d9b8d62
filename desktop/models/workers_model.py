"""The workers table: one row per worker, keyed by its Celery hostname (``NAME@host``).

:meth:`WorkersModel.update` merges a fresh list into the rows it has: rows that went away are
removed, new ones appended, and changed cells announced with ``dataChanged``, so a refresh every
1.5 s neither resets the view nor moves the selection.

Active and Processed come from the Celery event stream (:meth:`WorkersModel.set_counts`, live,
for every worker that sends events, local or remote); without events, from the last ``inspect``
the controller made (every ~10 s, carried between scans), else a dash.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont

from pooldesk.backend.workers.info import WorkerInfo
from pooldesk.desktop import resources
from pooldesk.desktop.formatting import DASH, human_bytes, percent
from pooldesk.desktop.models.table import Columns, TableModel

COLUMNS = (
    "Name",
    "State",
    "Pool",
    "Concurrency",
    "Queues",
    "PID",
    "CPU %",
    "Memory (USS)",
    "Active",
    "Processed",
    "Project",
    "Host",
)
NAME, STATE, POOL, CONCURRENCY, QUEUES, PID, CPU, MEMORY, ACTIVE, PROCESSED = range(10)
PROJECT = 10  # the project it belongs to; its tooltip names the broker it is on (masked)
HOST = 11  # this machine, a fleet host (its agent's rows), or a Celery node's machine
THIS_MACHINE = "local"  # the Host cell of this machine's workers (short: 1280 px must fit)
NUMERIC = {CONCURRENCY, PID, CPU, MEMORY, ACTIVE, PROCESSED}
HEADER_TIPS = {
    MEMORY: "Unique set size of the worker and its pool processes: what stopping frees",
    ACTIVE: "Tasks running now (Celery events; without them, inspect every ~10 s)",
    PROCESSED: "Tasks finished since the worker started (Celery events, or inspect)",
    PROJECT: "The project the worker runs (Settings ▸ Projects); hover a cell for its broker",
    HOST: "Where it runs: this machine, or a fleet host whose agent runs it (pooldesk host list)",
}
Counts = tuple[int | None, int | None]  # active, processed
LIVE_STATES = ("online", "online-remote", "stopping")
WorkerRole = Qt.ItemDataRole.UserRole + 1  # the row's WorkerInfo


def host_of(info: WorkerInfo) -> str:
    """The fleet host whose agent runs this worker; "" for this machine's and Celery nodes."""
    return str(getattr(info, "host", "") or "")


def host_label(info: WorkerInfo) -> str:
    if host_of(info):
        return host_of(info)
    if info.remote:  # a Celery node no agent of ours speaks for: its machine, from NAME@HOST
        return info.hostname.partition("@")[2] or DASH
    return THIS_MACHINE


def state_label(info: WorkerInfo) -> str:
    if info.state == "stopping" and info.progress:
        return f"stopping: {info.progress}"
    return "online" if info.remote and info.state == "online-remote" else info.state


def _count(value: int | None) -> str:
    return DASH if value is None else f"{value:,}"


def cells(info: WorkerInfo, counts: Counts = (None, None)) -> tuple[str, ...]:
    """What each column displays for one worker; ``counts`` (active, processed) when known
    from elsewhere than ``info`` (events), else ``info``'s own."""
    active = info.active if counts[0] is None else counts[0]
    processed = info.processed if counts[1] is None else counts[1]
    concurrency = DASH if info.concurrency is None else str(info.concurrency)
    if info.autoscale:
        concurrency = f"{concurrency} (auto {info.autoscale[1]}–{info.autoscale[0]})"
    return (
        f"{info.name} (remote)" if info.remote and not host_of(info) else info.name,
        state_label(info),
        info.pool or DASH,
        concurrency,
        ", ".join(info.queues) or DASH,
        DASH if info.pid is None else str(info.pid),
        percent(info.cpu_percent),
        human_bytes(info.memory_bytes),
        _count(active),
        _count(processed),
        info.project or DASH,
        host_label(info),
    )


class WorkersModel(TableModel):
    spec = Columns(COLUMNS, frozenset(NUMERIC), HEADER_TIPS, WorkerRole)
    _rows: list[WorkerInfo]

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._events: dict[str, Counts] = {}  # hostname → from the event stream
        self._inspected: dict[str, Counts] = {}  # hostname → last seen in a WorkerInfo

    def role_data(self, info: WorkerInfo, row: int, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.FontRole and info.remote and not host_of(info):
            font = QFont()
            font.setItalic(True)
            return font
        if column == STATE and role == Qt.ItemDataRole.ForegroundRole:
            return resources.state_color(info.state)
        if column == STATE and role == Qt.ItemDataRole.DecorationRole:
            return resources.dot(resources.state_color(info.state).name())
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(info, column)
        return None

    @staticmethod
    def _tooltip(info: WorkerInfo, column: int) -> str | None:
        if column == PROJECT:
            on = f"on broker {info.broker}" if info.broker else "broker unknown"
            return f"{info.project or 'no project'}: {on}"
        if column == HOST and host_of(info):
            return f"Runs on host {host_of(info)}: its agent starts, stops and reads it"
        if column == HOST and not info.remote:
            return "Runs on this machine"
        if info.remote and not host_of(info):
            return f"{info.hostname}: runs elsewhere; Pooldesk reaches it through the broker only"
        if column == STATE and info.state == "crashed":
            last = info.last_log[-1] if info.last_log else "(no log)"
            return f"{info.exit or 'exit status unknown'}\nLast log line: {last}"
        if column == STATE and info.state == "stopping":
            return (
                "Warm stop: the worker takes no new tasks and exits when its running tasks end.\n"
                "Stop now (Workers menu) abandons them instead; they return to the queue."
            )
        if column == STATE and info.ready_seconds is not None:
            return f"answered ping {info.ready_seconds:.1f} s after start"
        if column == NAME:
            return info.hostname
        return None

    # -- access ------------------------------------------------------------------------------
    def worker(self, row: int) -> WorkerInfo | None:
        return self.row_at(row)

    def workers(self) -> list[WorkerInfo]:
        return list(self._rows)

    def row_of(self, name: str, remote: bool = False, host: str = "") -> int:
        """Row of the worker called NAME (local by default; on fleet ``host`` if given), or -1."""
        if host:
            return self._find(lambda info: info.name == name and host_of(info) == host)
        return self._find(
            lambda info: info.name == name and info.remote == remote and not host_of(info)
        )

    # -- updating ----------------------------------------------------------------------------
    def set_counts(self, counts: dict[str, Counts]) -> None:
        """Active/processed per hostname from the event stream; changed cells are announced."""
        self._events = dict(counts)
        for row, info in enumerate(self._rows):
            new_cells = self._cells_of(info)
            if new_cells != self._cells[row]:
                self._cells[row] = new_cells
                self.dataChanged.emit(self.index(row, ACTIVE), self.index(row, PROCESSED))

    def _cells_of(self, info: WorkerInfo) -> tuple[str, ...]:
        if info.state not in LIVE_STATES:  # a stopped worker runs nothing: no stale counts
            self._inspected.pop(info.hostname, None)
            return cells(info)
        if info.active is not None or info.processed is not None:
            self._inspected[info.hostname] = (info.active, info.processed)
        inspected = self._inspected.get(info.hostname, (None, None))
        events = self._events.get(info.hostname, (None, None))
        active = events[0] if events[0] is not None else inspected[0]
        processed = events[1] if events[1] is not None else inspected[1]
        return cells(info, (active, processed))

    def update(self, workers: list[WorkerInfo]) -> None:
        fresh = {w.hostname: w for w in workers}
        self._inspected = {h: c for h, c in self._inspected.items() if h in fresh}
        self._drop_rows(lambda w: w.hostname in fresh)
        known = {w.hostname: row for row, w in enumerate(self._rows)}
        for hostname, row in known.items():
            info, old = fresh[hostname], self._rows[row]
            # A new state or locality changes font, colour and tooltips: the whole row.
            whole = old.remote != info.remote or old.state != info.state
            self._replace_row(row, info, self._cells_of(info), whole)
        added = [w for w in workers if w.hostname not in known]
        local_end = next((r for r, w in enumerate(self._rows) if w.remote), len(self._rows))
        self._insert(local_end, [w for w in added if not w.remote])  # local rows stay on top
        self._insert(len(self._rows), [w for w in added if w.remote])

    def _insert(self, first: int, workers: list[WorkerInfo]) -> None:
        self._insert_rows(first, workers, [self._cells_of(w) for w in workers])
