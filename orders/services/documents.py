"""The order's quote PDF (御見積書): freeze the order into a QuoteDocument, render it, store it, record it once.

Rendering and writing the file are the slow part of the pipeline's last step,
so they happen before the step locks anything (`orders_quote_store`); the step
then records the stored files under its short lock (`orders_quote_record`), and
whatever a record does not point to is deleted (`discard_unrecorded_files`).
Two deliveries of one message may both render; one record wins, the unique
constraint on (order, kind) decides, and the other file is deleted.
"""

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db.models import prefetch_related_objects
from django.utils import timezone

from licensing.models import Customer
from orders.models import Order, OrderDocument
from orders.totals import order_totals
from quotes.pdf import DocumentLine, Issuer, QuoteDocument, QuotePdfRenderer, TaxRow

logger = logging.getLogger(__name__)


def coterm_note(line) -> str:
    """What a co-termed line's unit price is: "月割り 4ヶ月分（2027年3月31日まで）"; empty for a full term."""
    if not line.coterm_months:
        return ""
    until = line.coterm_until
    return f"月割り {line.coterm_months}ヶ月分（{until.year}年{until.month}月{until.day}日まで）"


def order_quote_document(*, order: Order, issue_date: date | None = None) -> QuoteDocument:
    """The order as a quote document: its frozen lines, tax per rate (order_totals), the issuer from settings."""
    issue_date = issue_date or timezone.localdate()
    lines = list(order.lines.all())
    totals = order_totals(lines=lines, discount=order.discount)
    return QuoteDocument(
        number=order.number,
        issue_date=issue_date,
        valid_until=issue_date + timedelta(days=settings.ORDER_QUOTE_VALIDITY_DAYS),
        recipient_name=order.customer.name,
        recipient_is_company=order.customer.honorific == Customer.Honorific.COMPANY,
        issuer=Issuer(**settings.ORDERDESK_ISSUER),
        lines=tuple(
            DocumentLine(
                name=line.product_name,
                quantity=line.quantity,
                unit=line.unit,
                unit_price=line.unit_price,
                amount=line.amount,
                tax_rate=line.tax_rate,
                note=coterm_note(line),
            )
            for line in lines
        ),
        tax_rows=tuple(TaxRow(rate=row.rate, subtotal=row.subtotal, tax=row.tax) for row in totals.tax_rows),
        subtotal=totals.subtotal,
        tax=totals.tax,
        total=totals.total,
        discount=order.discount,
        payment_terms=settings.ORDER_PAYMENT_TERMS,
        notes=_notes(order),
    )


@dataclass(frozen=True)
class StoredFile:
    """A rendered document written to storage, not yet recorded."""

    order_id: int
    kind: str
    name: str  # the storage path
    content_type: str
    sha256: str


def orders_quote_store(*, orders: Sequence[Order]) -> dict[int, StoredFile]:
    """Render and store the quote PDF of each order that has none recorded; order id → the stored file.

    Holds no lock: run it before the step that records the files locks the
    orders. The orders need their customer loaded; their lines are read here.
    """
    recorded = set(
        OrderDocument.objects.filter(order__in=orders, kind=OrderDocument.Kind.QUOTE).values_list("order_id", flat=True)
    )
    missing = [order for order in orders if order.pk not in recorded]
    prefetch_related_objects(missing, "lines")
    renderer = QuotePdfRenderer()
    stored = {}
    for order in missing:
        rendered = renderer.render(order_quote_document(order=order))
        stored[order.pk] = _store(order=order, kind=OrderDocument.Kind.QUOTE, content_type=rendered.content_type, content=rendered.content)
    return stored


def orders_quote_record(*, orders: Sequence[Order], stored: Mapping[int, StoredFile]) -> set[int]:
    """Record the stored quote PDF of each order, once; the ids of the orders that now have one.

    Runs in the step's transaction with the orders locked. An order that
    already has its record keeps it (a concurrent or earlier delivery wrote it).
    """
    OrderDocument.objects.bulk_create(
        [
            OrderDocument(order=order, kind=file.kind, file=file.name, content_type=file.content_type, sha256=file.sha256)
            for order in orders
            if (file := stored.get(order.pk)) is not None
        ],
        ignore_conflicts=True,  # recorded before: the unique (order, kind) keeps the first
    )
    return set(
        OrderDocument.objects.filter(order__in=orders, kind=OrderDocument.Kind.QUOTE).values_list("order_id", flat=True)
    )


def discard_unrecorded_files(stored: Iterable[StoredFile]) -> None:
    """Delete the stored files no record points to, and the orders' older unrecorded files. Never raises.

    Runs after the step's transaction, committed or not: a file whose record
    lost to another delivery, or whose transaction rolled back, is garbage, and
    so is a file left by a worker killed between storing and recording.
    """
    stored = list(stored)
    if not stored:
        return
    try:
        recorded = dict(
            OrderDocument.objects.filter(order_id__in={file.order_id for file in stored}).values_list("order_id", "file")
        )
    except Exception:  # noqa: BLE001 — the database is unreachable: garbage stays on disk, nothing else is harmed
        logger.warning("could not discard unrecorded document files", exc_info=True)
        return
    for file in stored:
        keep = recorded.get(file.order_id)
        directory = file.name.rsplit("/", 1)[0]
        try:
            for name in default_storage.listdir(directory)[1]:
                if f"{directory}/{name}" != keep:
                    default_storage.delete(f"{directory}/{name}")
        except OSError:
            logger.warning("could not discard unrecorded files of order %s", file.order_id, exc_info=True)


def _store(*, order: Order, kind: str, content_type: str, content: bytes) -> StoredFile:
    """Write the bytes under a name of their own (the content's hash): a second render never overwrites a recorded file."""
    sha256 = hashlib.sha256(content).hexdigest()
    name = f"orders/{order.number}/{kind}-{sha256[:16]}.pdf"
    if not default_storage.exists(name):
        saved = default_storage.save(name, ContentFile(content))
        if saved != name:  # written meanwhile by another delivery: the same bytes
            default_storage.delete(saved)
    return StoredFile(order_id=order.pk, kind=kind, name=name, content_type=content_type, sha256=sha256)


def _notes(order: Order) -> str:
    notes = f"貴社注文番号: {order.po_number}"
    return f"{notes}\n{order.notes}" if order.notes.strip() else notes
