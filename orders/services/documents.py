"""The order's quote PDF (御見積書): freeze the order into a QuoteDocument, render it, store it once."""

import hashlib
from collections.abc import Sequence
from datetime import date, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db.models import prefetch_related_objects
from django.utils import timezone

from licensing.models import Customer
from licensing.pricing import LineAmount, document_totals
from orders.models import Order, OrderDocument, order_document_path
from quotes.pdf import DocumentLine, Issuer, QuoteDocument, QuotePdfRenderer, RenderedDocument, TaxRow


def order_quote_document(*, order: Order, issue_date: date | None = None) -> QuoteDocument:
    """The order as a quote document: its frozen lines, tax per rate, the issuer from settings."""
    issue_date = issue_date or timezone.localdate()
    lines = list(order.lines.all())
    totals = document_totals(
        [LineAmount(amount=line.amount, tax_rate=line.tax_rate) for line in lines], discount=order.discount
    )
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


def order_quote_render(*, order: Order) -> OrderDocument:
    """Render and store the order's quote PDF, unless it is already stored (a re-run renders nothing)."""
    orders_quote_render(orders=[order])
    return OrderDocument.objects.get(order=order, kind=OrderDocument.Kind.QUOTE)


def orders_quote_render(*, orders: Sequence[Order]) -> list[OrderDocument]:
    """order_quote_render for a batch of orders: the stored check, the lines and the records in 3 queries."""
    stored = set(
        OrderDocument.objects.filter(order__in=orders, kind=OrderDocument.Kind.QUOTE).values_list("order_id", flat=True)
    )
    missing = [order for order in orders if order.pk not in stored]
    prefetch_related_objects(missing, "lines")
    renderer = QuotePdfRenderer()
    documents = [
        _document_with_stored_file(
            order=order, kind=OrderDocument.Kind.QUOTE, rendered=renderer.render(order_quote_document(order=order))
        )
        for order in missing
    ]
    return OrderDocument.objects.bulk_create(documents)


def order_document_store(*, order: Order, kind: str, rendered: RenderedDocument) -> OrderDocument:
    """Store the bytes through the default storage and record them, once per order and kind."""
    document = _document_with_stored_file(order=order, kind=kind, rendered=rendered)
    # Callers hold the order's row lock, so no one else stores this kind meanwhile;
    # the unique constraint on (order, kind) is the last guard.
    document.save()
    return document


def _document_with_stored_file(*, order: Order, kind: str, rendered: RenderedDocument) -> OrderDocument:
    """The bytes written through the default storage, and the (unsaved) record that points to them."""
    document = OrderDocument(
        order=order, kind=kind, content_type=rendered.content_type, sha256=hashlib.sha256(rendered.content).hexdigest()
    )
    # A file left by an attempt whose transaction rolled back (a killed worker)
    # would make the storage pick another name: replace it instead.
    path = order_document_path(document, rendered.filename)
    if default_storage.exists(path):
        default_storage.delete(path)
    document.file.save(rendered.filename, ContentFile(rendered.content), save=False)
    return document


def _notes(order: Order) -> str:
    notes = f"貴社注文番号: {order.po_number}"
    return f"{notes}\n{order.notes}" if order.notes.strip() else notes
