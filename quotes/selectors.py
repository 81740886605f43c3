"""Reads of quotes for pages and the API."""

from django.db.models import Prefetch, Q, QuerySet

from licensing.models import Customer
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


# What quotes.services.documents.quote_document reads, and nothing more: a PDF
# is rendered on every preview and download, and in a surge many at once.
DOCUMENT_FIELDS = (
    "number", "issue_date", "valid_until", "recipient_name", "recipient_is_company", "issuer", "tax_rows",
    "subtotal", "tax", "total", "discount", "payment_terms", "notes", "customer__name", "customer__honorific",
)  # fmt: skip
DOCUMENT_LINE_FIELDS = (
    "quote_id", "position", "product_name", "quantity", "unit", "unit_price", "amount", "tax_rate",
    "discount_percent", "discount_yen",
)  # fmt: skip


def quote_for_document(*, number: str) -> Quote | None:
    lines = QuoteLine.objects.only(*DOCUMENT_LINE_FIELDS).order_by("position")
    return (
        Quote.objects.select_related("customer")
        .only(*DOCUMENT_FIELDS)
        .prefetch_related(Prefetch("lines", queryset=lines))
        .filter(number=number)
        .first()
    )
