"""Render one invoice to a PDF file, atomically.

The file is built under a temporary name in the target directory and moved into place with
``os.replace``, so a reader (or the invoice row pointing at it) never sees a half-written PDF,
and a rerun or a racing worker simply replaces the file. Rendering is deterministic
(``invariant``, issue date derived from the period), so two workers racing on one invoice
write byte-identical files.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import StyleSheet1, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from pooldesk.backend.invoices.billing import ComputedInvoice, format_cents
from pooldesk.backend.paths import home

SELLER = "Pooldesk Demo Cloud Ltd · 1 Example Street · Dublin · IE"


def invoices_dir() -> Path:
    """Default root for invoice PDFs: ``home()/invoices`` (one subdirectory per period)."""
    return home() / "invoices"


def pdf_path(invoice: ComputedInvoice, out_dir: Path | None = None) -> Path:
    """Where ``invoice`` is written: ``OUT_DIR/PERIOD/NUMBER.pdf``."""
    return (out_dir or invoices_dir()) / invoice.period / f"{invoice.number}.pdf"


@functools.cache
def _styles() -> StyleSheet1:
    """Built once per process: the sample sheet is rebuilt from scratch on every call."""
    return getSampleStyleSheet()


def _story(invoice: ComputedInvoice) -> list[object]:
    styles = _styles()
    body, small = styles["BodyText"], styles["Normal"]
    cur = invoice.currency
    customer = invoice.customer
    rate_pct = f"{(invoice.tax_rate * 100).normalize():f}%"
    header = [
        Paragraph(f"Invoice {escape(invoice.number)}", styles["Title"]),
        Paragraph(escape(SELLER), small),
        Spacer(1, 6 * mm),
        Paragraph(
            f"<b>Bill to:</b> {escape(customer.name)}<br/>{escape(customer.email)}<br/>"
            f"Country: {escape(customer.country)} · Customer no. {customer.id}",
            body,
        ),
        Paragraph(
            f"<b>Invoice date:</b> {invoice.issued.isoformat()} · "
            f"<b>Service period:</b> {escape(invoice.period)} · <b>Currency:</b> {escape(cur)}",
            body,
        ),
        Spacer(1, 6 * mm),
    ]
    rows: list[list[object]] = [["Item", "Description", "Qty", "Unit price", "Amount"]]
    for line in invoice.lines:
        rows.append(
            [
                Paragraph(escape(line.sku), small),
                Paragraph(escape(line.description), small),
                f"{line.quantity:,}",
                format_cents(line.unit_price_cents),
                format_cents(line.amount_cents),
            ]
        )
    if not invoice.lines:
        rows.append(["", "No usage in this period", "", "", format_cents(0)])
    first_total = len(rows)
    rows += [
        ["", "Subtotal", "", "", format_cents(invoice.subtotal_cents, cur)],
        ["", f"VAT {rate_pct}", "", "", format_cents(invoice.tax_cents, cur)],
        ["", "Total due", "", "", format_cents(invoice.total_cents, cur)],
    ]
    table = Table(rows, colWidths=[38 * mm, 70 * mm, 18 * mm, 22 * mm, 30 * mm], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8ecf2")),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
                ("ALIGN", (2, 0), (-1, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("FONTSIZE", (0, 0), (-1, -1), 9),
                ("LINEABOVE", (0, first_total), (-1, first_total), 0.8, colors.black),
                ("FONTNAME", (0, -1), (-1, -1), "Helvetica-Bold"),
            ]
        )
    )
    return [*header, table]


def render_pdf(invoice: ComputedInvoice, out_dir: Path | None = None) -> Path:
    """Write ``invoice`` to :func:`pdf_path` atomically and return that path.

    The data is fsynced before the rename: the invoice row is committed right after this
    returns, and it must not outlive its PDF after a crash.
    """
    target = pdf_path(invoice, out_dir).absolute()  # stored in the invoice row: never relative
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{invoice.number}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            doc = SimpleDocTemplate(
                handle,
                pagesize=A4,
                title=f"Invoice {invoice.number}",
                author="Pooldesk",
                invariant=1,
                leftMargin=16 * mm,
                rightMargin=16 * mm,
            )
            doc.build(_story(invoice))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return target
