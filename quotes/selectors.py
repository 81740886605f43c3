"""Reads of quotes for pages and the API."""

import functools
import json
from dataclasses import dataclass
from datetime import date

from django.db.models import Q, QuerySet

from licensing.models import Customer
from orderdesk.db import fetch_all
from quotes.models import Quote, QuoteEvent, QuoteLine

# The events of a revision whose actor wrote its prices and discounts.
AUTHORING_ACTIONS = (QuoteEvent.Action.CREATED, QuoteEvent.Action.EDITED, QuoteEvent.Action.REVISED)


def quote_search(*, text: str = "", status: str = "") -> QuerySet[Quote]:
    """Staff list: newest first, matching number, customer code or name, or a product on a line."""
    quotes = Quote.objects.select_related("customer", "created_by")
    if status:
        quotes = quotes.filter(status=status)
    text = text.strip()
    if text:
        matches = (
            Q(number__icontains=text)
            | Q(customer__code__icontains=text)
            | Q(customer__name__icontains=text)
            | Q(lines__sku__icontains=text)
            | Q(lines__product_name__icontains=text)
        )
        quotes = quotes.filter(pk__in=Quote.objects.filter(matches).values("pk"))
    return quotes.order_by("-created_at", "-id")


def quotes_waiting_for_approval() -> QuerySet[Quote]:
    return Quote.objects.filter(status=Quote.Status.PENDING_APPROVAL).select_related("customer", "created_by").order_by("status_changed_at")


def quote_author_ids(*, quotes) -> dict[int, set[int]]:
    """For each quote, the users who wrote it: who created or revised it, and everyone who edited it since. One query."""
    quotes = list(quotes)
    authors: dict[int, set[int]] = {quote.pk: {quote.created_by_id} - {None} for quote in quotes}
    written = QuoteEvent.objects.filter(quote__in=quotes, action__in=AUTHORING_ACTIONS, actor__isnull=False)
    for quote_id, user_id in written.values_list("quote_id", "actor_id"):
        authors[quote_id].add(user_id)
    return authors


def quote_for_staff(*, number: str) -> Quote | None:
    return (
        Quote.objects.select_related("customer", "approved_by", "created_by", "supersedes")
        .prefetch_related("lines__product", "events__actor")
        .filter(number=number)
        .first()
    )


def quote_for_customer(*, customer: Customer, number: str) -> Quote | None:
    """A quote the customer was sent; drafts and other customers' quotes do not exist for them."""
    return (
        Quote.objects.filter(customer=customer, number=number, status__in=Quote.ISSUED_STATUSES)
        .prefetch_related("lines")
        .first()
    )


def customer_search(*, text: str, limit: int = 20) -> QuerySet[Customer]:
    customers = Customer.objects.filter(is_active=True)
    text = text.strip()
    if text:
        customers = customers.filter(Q(code__icontains=text) | Q(name__icontains=text))
    return customers.order_by("code")[:limit]


@dataclass(frozen=True)
class DocumentLineSource:
    """One quote line as the 御見積書 prints it."""

    product_name: str
    quantity: int
    unit: str
    unit_price: int
    amount: int
    tax_rate: int
    discount_percent: int
    discount_yen: int

    @property
    def gross(self) -> int:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class QuoteDocumentSource:
    """What quotes.services.documents.quote_document reads of a quote, and nothing more."""

    number: str
    issue_date: date | None
    valid_until: date
    recipient_name: str
    recipient_is_company: bool
    issuer: dict
    tax_rows: list
    subtotal: int
    tax: int
    total: int
    discount: int
    payment_terms: str
    notes: str
    customer_name: str
    customer_honorific: str
    lines: tuple[DocumentLineSource, ...]


def quote_for_document(*, number: str) -> QuoteDocumentSource | None:
    """The quote, its customer and its lines in one prepared statement; None if there is no such quote.

    A PDF is rendered on every preview, download and e-mail, and in a surge
    many at once. Through the ORM the two queries this took (the quote with
    its customer, then its lines) cost 20 times their execution in building
    their SQL: about a fifth of a whole render (bench/README.md, "Quotes").
    """
    rows = fetch_all(_document_sql(), [number])
    if not rows:
        return None
    first = rows[0]
    return QuoteDocumentSource(
        number=first[0],
        issue_date=_date(first[1]),
        valid_until=_date(first[2]),
        recipient_name=first[3],
        recipient_is_company=bool(first[4]),
        issuer=_json(first[5]),
        tax_rows=_json(first[6]),
        subtotal=first[7],
        tax=first[8],
        total=first[9],
        discount=first[10],
        payment_terms=first[11],
        notes=first[12],
        customer_name=first[13],
        customer_honorific=first[14],
        lines=tuple(DocumentLineSource(*row[15:]) for row in rows if row[15] is not None),
    )


@functools.cache
def _document_sql() -> str:
    quote, customer, line = Quote._meta.db_table, Customer._meta.db_table, QuoteLine._meta.db_table
    return f"""
        SELECT q.number, q.issue_date, q.valid_until, q.recipient_name, q.recipient_is_company, q.issuer, q.tax_rows,
               q.subtotal, q.tax, q.total, q.discount, q.payment_terms, q.notes, c.name, c.honorific,
               l.product_name, l.quantity, l.unit, l.unit_price, l.amount, l.tax_rate, l.discount_percent, l.discount_yen
        FROM {quote} q
        JOIN {customer} c ON c.id = q.customer_id
        LEFT JOIN {line} l ON l.quote_id = q.id
        WHERE q.number = %s
        ORDER BY l.position
    """  # fmt: skip


def _date(value) -> date | None:
    # PostgreSQL answers a date; SQLite its ISO text.
    return date.fromisoformat(value) if isinstance(value, str) else value


def _json(value):
    # Django reads JSON columns as text on both databases and decodes them itself; so do we.
    return json.loads(value) if isinstance(value, str | bytes) else value
