"""The selected batch in detail: parameters, results, failures, and the table of its children.

Shown under the batches table. It only formats what it is given (a lean ``BatchRecord`` and
the children rows from the controller); it asks for nothing.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from pooldesk.backend.batches.history import BatchRecord
from pooldesk.backend.telemetry.views import Span
from pooldesk.backend.units import plural
from pooldesk.desktop import resources
from pooldesk.desktop.formatting import DASH
from pooldesk.desktop.models.batches_model import STATE_TEXT, batch_color, duration, elapsed, eta
from pooldesk.desktop.models.children_model import (
    DETAIL,
    NUMBER,
    REASON,
    RESULT,
    STATE,
    ChildrenModel,
)
from pooldesk.desktop.views.tables import make_table
from pooldesk.desktop.views.timeline import TimelineWidget, summary

PLACEHOLDER = "Select a batch to see its parameters, results and children."
FAILURES_LISTED = 5
REASON_ROOM = 180  # pixels the reason column keeps when URLs are long


def params_text(record: BatchRecord) -> str:
    p = record.params or {}
    if record.kind == "project":
        per = f"chunks of {p['chunk_size']:,}" if p.get("chunk_size") else "one call per item"
        return (
            f"project {p.get('project')} · {p.get('task')} · {int(p.get('items') or 0):,} items "
            f"from {p.get('source')} · {per} · queue {p.get('queue')}"
        )
    if record.kind == "invoices":
        who = "all customers" if p.get("customers") is None else plural(p["customers"], "customer")
        size = p.get("chunk_size", 0)
        return f"period {p.get('period')} · {who} · chunks of {size:,} · queue {p.get('queue')}"
    n = int(p.get("url_count") or 0)
    per = f" · {p['urls_per_task']:,} per task" if p.get("urls_per_task") else ""
    return (
        f"{n:,} URL{'s' if n != 1 else ''}{per} · timeout {p.get('timeout')} s · "
        f"queue {p.get('queue')}"
    )


def describe(record: BatchRecord, now: float | None = None) -> list[tuple[str, str, str]]:
    """The detail pane's lines: ``(label, text, tone)``, tone ``""``, ``"bad"`` or ``"warn"``."""
    now = now or time.time()
    c, s = record.counts or {}, record.summary or {}
    lines = [("Parameters", params_text(record), "")]
    if c.get("total"):
        lines.append(
            (
                "Children",
                f"{c['total']:,}: {c.get('succeeded', 0):,} ok, {c.get('failed', 0):,} failed, "
                f"{c.get('cancelled', 0):,} cancelled, {c.get('started', 0):,} running, "
                f"{c.get('pending', 0):,} pending",
                "bad" if c.get("failed") else "",
            )
        )
    if "invoices_created" in s:
        text = (
            f"{plural(s['invoices_created'], 'invoice')} created, "
            f"{s['invoices_skipped']:,} already there"
        )
        if s.get("seconds_per_invoice"):
            text += f", {s['seconds_per_invoice'] * 1000:.1f} ms per invoice"
        lines.append(("Result", text, ""))
        if s.get("missing_customers"):
            lines.append(
                ("Missing", f"{plural(s['missing_customers'], 'customer')} not found", "warn")
            )
    elif "urls_up" in s:
        lines.append(("Result", f"{s['urls_up']:,} up, {s['urls_down']:,} down", ""))
    spent, left = elapsed(record, now), eta(record, now)
    timing = f"created {time.strftime('%H:%M:%S', time.localtime(record.created_at))}"
    if record.started_at:
        timing += f" · started {time.strftime('%H:%M:%S', time.localtime(record.started_at))}"
    if record.final and s.get("wall_seconds") is not None:
        spent = float(s["wall_seconds"])
    if spent is not None:
        timing += f" · {'wall time' if record.final else 'running for'} {duration(spent)}"
    if s.get("child_runtime_seconds"):
        timing += f" · children busy {duration(float(s['child_runtime_seconds']))} in all"
    if left is not None:
        timing += f" · ≈ {duration(left)} left"
    if s.get("retry_round"):
        timing += f" · retry round {s['retry_round']}"
    lines.append(("Time", timing, ""))
    if record.state == "queued" and now - record.created_at > 5:
        lines.append(("Waiting", "for a worker that consumes the 'orchestration' queue", "warn"))
    if record.error:
        lines.append(("Error", record.error, "bad"))
    failed = s.get("failed_children") or []
    for child in failed[:FAILURES_LISTED]:
        lines.append((f"Child {child.get('index')}", str(child.get("reason")), "bad"))
    more = int(s.get("failed_children_total", len(failed))) - min(FAILURES_LISTED, len(failed))
    if more > 0:
        lines.append(("", f"and {more:,} more failed children (see the table)", "bad"))
    return lines


RESIZE_PRECISION = 50  # rows sampled to size a column


class BatchDetail(QSplitter):
    """Facts on the left, children on the right."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.record: BatchRecord | None = None
        self.children_model = ChildrenModel(self)
        self.children_table = make_table(self.children_model)
        self.children_table.verticalHeader().setDefaultSectionSize(24)
        self.children_table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # URLs differ at the end
        header = self.children_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(DETAIL, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(REASON, QHeaderView.ResizeMode.Stretch)
        # Measure the visible rows' neighbourhood only: with Qt's default (1,000 rows) every
        # refresh of a 1,000-child batch re-measured each row on the GUI thread.
        header.setResizeContentsPrecision(RESIZE_PRECISION)

        self.title = QLabel(PLACEHOLDER)
        self.title.setObjectName("detailTitle")
        self.facts = QLabel()
        self.facts.setObjectName("detail")
        self.facts.setTextFormat(Qt.TextFormat.RichText)
        self.facts.setWordWrap(True)
        self.facts.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.caption = QLabel("Children")
        info = QWidget()
        info_layout = QVBoxLayout(info)
        info_layout.addWidget(self.title)
        info_layout.addWidget(self.facts, 1)
        kids = QWidget()
        kids_layout = QVBoxLayout(kids)
        kids_layout.setContentsMargins(0, 9, 0, 0)
        kids_layout.addWidget(self.caption)
        kids_layout.addWidget(self.children_table, 1)
        # Each child as a bar on the process that ran it (from the probe and task events).
        self.timeline_source: Callable[[str], list[Span]] | None = None
        self.timeline_caption = QLabel("Timeline")
        self.timeline = TimelineWidget()
        kids_layout.addWidget(self.timeline_caption)
        kids_layout.addWidget(self.timeline)
        self.addWidget(info)
        self.addWidget(kids)
        self.setSizes([360, 640])
        self.setChildrenCollapsible(False)

    def set_timeline_source(self, source: Callable[[str], list[Span]]) -> None:
        """``source(prefix)``: the runs whose task id starts with it (any thread may serve)."""
        self.timeline_source = source

    def refresh_timeline(self) -> None:
        spans = (
            self.timeline_source(f"{self.record.id}.")
            if self.timeline_source is not None and self.record is not None
            else []
        )
        now = time.time()
        self.timeline.set_spans(spans, now)
        self.timeline_caption.setText(f"Timeline: {summary(spans, now)}")

    def show_record(self, record: BatchRecord | None) -> None:
        if record is None or self.record is None or record.id != self.record.id:
            self.children_model.clear()
            self.caption.setText("Children")
        self.record = record
        self.refresh_timeline()
        self.setEnabled(record is not None)
        if record is None:
            self.title.setText(PLACEHOLDER)
            self.facts.setText("")
            return
        state = html.escape(STATE_TEXT.get(record.state, record.state))
        self.title.setText(
            f"<b>{record.kind.capitalize()} batch {record.id[:8]}</b> · "
            f"<span style='color:{batch_color(record.state).name()}'>{state}</span>"
        )
        self.title.setToolTip(record.id)
        tones = {"bad": resources.state_color("crashed"), "warn": resources.state_color("warning")}
        rows = []
        for label, text, tone in describe(record):
            colour = f" style='color:{tones[tone].name()}'" if tone in tones else ""
            rows.append(
                f"<tr><td style='padding-right:10px'><b>{html.escape(label)}</b></td>"
                f"<td{colour}>{html.escape(text)}</td></tr>"
            )
        self.facts.setText(f"<table cellspacing='3'>{''.join(rows)}</table>")

    def set_children(self, batch_id: str, children: list[dict[str, Any]]) -> None:
        if self.record is None or self.record.id != batch_id:
            return
        model, table = self.children_model, self.children_table
        model.set_children(batch_id, children)
        self.refresh_timeline()
        total = int((self.record.counts or {}).get("total", 0))
        shown = f"{len(children):,} of {total:,}" if total > len(children) else f"{len(children):,}"
        self.caption.setText(f"Children ({shown}), failed and running first")
        # While a batch runs the backend knows no details or results: no columns of dashes.
        for column in (DETAIL, RESULT):
            empty = all(model.index(r, column).data() == DASH for r in range(model.rowCount()))
            table.setColumnHidden(column, empty)
        if not table.isColumnHidden(DETAIL):  # URLs are long: leave the reason some room
            others = sum(table.columnWidth(c) for c in (NUMBER, STATE, RESULT))
            room = table.viewport().width() - others - REASON_ROOM
            table.setColumnWidth(DETAIL, min(table.sizeHintForColumn(DETAIL), max(160, room)))
