"""The Audit page: each finding of the configuration audit with its setting, its measurement
and its fix, most severe first.

Data in: :meth:`show_reports` (``Report.to_dict()`` per project, from the audit service, which
computes them off the GUI thread). Request out: ``refreshRequested`` (the Refresh button).
The list shows severity, project and title; the pane below it the plain-words text, each
setting with its value and where it came from, the numbers measured, and the fix with a link to
Celery's documentation.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

COLUMNS = ("Severity", "Project", "Finding")


class AuditPage(QWidget):
    title = "Audit"
    refreshRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._findings: list[dict[str, Any]] = []
        self.summary = QLabel("Auditing the projects' Celery settings…")
        self.summary.setWordWrap(True)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refreshRequested)
        head = QHBoxLayout()
        head.addWidget(self.summary, 1)
        head.addWidget(self.refresh_button)
        self.list = QTreeWidget()
        self.list.setHeaderLabels(list(COLUMNS))
        self.list.setRootIsDecorated(False)
        self.list.setAlternatingRowColors(True)
        self.list.currentItemChanged.connect(self._selected)
        self.detail = QTextBrowser()
        self.detail.setOpenExternalLinks(True)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.list)
        split.addWidget(self.detail)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.addLayout(head)
        layout.addWidget(split, 1)

    def show_reports(self, reports: list[dict[str, Any]]) -> None:
        current = self.list.currentItem()
        keep = current.data(0, Qt.ItemDataRole.UserRole) if current else None
        self._findings = [f for r in reports for f in r.get("findings") or []]
        order = {"critical": 0, "warning": 1, "info": 2}
        self._findings.sort(key=lambda f: (order.get(f["severity"], 3), f["project"], f["id"]))
        self.list.clear()
        for finding in self._findings:
            item = QTreeWidgetItem([finding["severity"], finding["project"], finding["title"]])
            item.setData(0, Qt.ItemDataRole.UserRole, finding["id"])
            item.setToolTip(2, finding["text"])
            self.list.addTopLevelItem(item)
            if finding["id"] == keep:
                self.list.setCurrentItem(item)
        for column in range(2):
            self.list.resizeColumnToContents(column)
        self.summary.setText(_summary(reports, self._findings))
        first = self.list.topLevelItem(0)
        if self.list.currentItem() is None and first is not None:
            self.list.setCurrentItem(first)
        if not self._findings:
            self.detail.setHtml(_errors_html(reports))

    def _selected(self, item: QTreeWidgetItem | None, _previous: object = None) -> None:
        if item is None:
            return
        wanted = item.data(0, Qt.ItemDataRole.UserRole)
        finding = next((f for f in self._findings if f["id"] == wanted), None)
        if finding is not None:
            self.detail.setHtml(finding_html(finding))


def _summary(reports: list[dict[str, Any]], findings: list[dict[str, Any]]) -> str:
    if not reports:
        return "No project has workers yet: start one and its settings are audited here."
    names = ", ".join(r["project"] for r in reports)
    if not findings:
        return f"Audited {names}: the Celery settings fit what the tasks measured."
    critical = sum(f["severity"] == "critical" for f in findings)
    return f"Audited {names}: {len(findings)} finding(s), {critical} critical."


def _errors_html(reports: list[dict[str, Any]]) -> str:
    errors = [
        f"<p><b>{html.escape(r['project'])}</b>: {html.escape(r['error'])}</p>"
        for r in reports
        if r.get("error")
    ]
    return "".join(errors)


def finding_html(finding: dict[str, Any]) -> str:
    """One finding as the detail pane shows it (escaped: values come from a user's app)."""
    e = html.escape
    rows = "".join(
        f"<tr><td><code>{e(str(c['setting']))}</code></td>"
        f"<td>{e('unset' if c['value'] is None else str(c['value']))}</td>"
        f"<td>{e(str(c['source']))}</td></tr>"
        for c in finding["config"]
    )
    measured = finding["measured"]
    numbers = (
        "".join(f"<tr><td>{e(str(k))}</td><td>{e(str(v))}</td></tr>" for k, v in measured.items())
        if measured
        else "<tr><td>nothing measured yet: this rests on the configuration alone</td></tr>"
    )
    docs = e(str(finding["fix"].get("docs") or ""))
    return (
        f"<h3>[{e(finding['severity'])}] {e(finding['title'])}</h3>"
        f"<p>{e(finding['text'])}</p>"
        f"<h4>Setting</h4><table cellpadding='3'><tr><th align='left'>setting</th>"
        f"<th align='left'>value</th><th align='left'>from</th></tr>{rows}</table>"
        f"<h4>Measured</h4><table cellpadding='3'>{numbers}</table>"
        f"<h4>Fix</h4><p>{e(str(finding['fix'].get('change')))}</p>"
        f"<p><a href='{docs}'>{docs}</a></p>"
        f"<p style='color:gray'>project {e(finding['project'])} · rule {e(finding['rule'])} · "
        f"id {e(finding['id'])}</p>"
    )
