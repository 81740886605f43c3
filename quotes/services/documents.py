"""A quote as a 御見積書: its frozen data → QuoteDocument → PDF through quotes.pdf."""

from dataclasses import replace

from django.conf import settings
from django.utils import timezone

from licensing.models import Customer
from quotes.models import JAPAN
from quotes.selectors import QuoteDocumentSource, quote_for_document
from quotes.pdf import DocumentLine, Issuer, QuoteDocument, QuotePdfRenderer, RenderedDocument, TaxRow

DRAFT_TITLE = "御見積書（案）"


def as_draft(document: QuoteDocument) -> QuoteDocument:
    """The document marked as not issued: titled 御見積書（案）, with 見本 / DRAFT on every page.

    For an unsent quote, and for the preview of an order whose quote is not rendered yet.
    """
    return replace(document, title=DRAFT_TITLE, draft=True)


def quote_document(*, quote: QuoteDocumentSource) -> QuoteDocument:
    """The document exactly as sent; an unsent draft shows today's date, the live customer, and is marked a draft."""
    if quote.issue_date is not None:
        issue_date, issuer = quote.issue_date, quote.issuer
        recipient_name, recipient_is_company = quote.recipient_name, quote.recipient_is_company
    else:
        issue_date, issuer = timezone.now().astimezone(JAPAN).date(), settings.ORDERDESK_ISSUER
        recipient_name = quote.customer_name
        recipient_is_company = quote.customer_honorific == Customer.Honorific.COMPANY
    document = QuoteDocument(
        number=quote.number,
        issue_date=issue_date,
        valid_until=quote.valid_until,
        recipient_name=recipient_name,
        recipient_is_company=recipient_is_company,
        issuer=Issuer(**issuer),
        lines=tuple(
            DocumentLine(
                name=line.product_name,
                quantity=line.quantity,
                unit=line.unit,
                unit_price=line.unit_price,
                amount=line.amount,
                tax_rate=line.tax_rate,
                note=line_discount_note(line),
            )
            for line in quote.lines
        ),
        tax_rows=tuple(TaxRow(rate=row["rate"], subtotal=row["subtotal"], tax=row["tax"]) for row in quote.tax_rows),
        subtotal=quote.subtotal,
        tax=quote.tax,
        total=quote.total,
        discount=quote.discount,
        payment_terms=quote.payment_terms,
        notes=quote.notes,
    )
    return document if quote.issue_date is not None else as_draft(document)


def line_discount_note(line) -> str:
    """Printed under the product name: 値引 10%（-¥27,000） or 値引 -¥5,000."""
    if line.discount_percent:
        return f"値引 {line.discount_percent}%（-¥{line.gross - line.amount:,}）"
    if line.discount_yen:
        return f"値引 -¥{line.discount_yen:,}"
    return ""


def quote_render_by_number(*, number: str) -> RenderedDocument | None:
    """Load only what the document prints (one statement) and render it; None if there is no such quote."""
    quote = quote_for_document(number=number)
    return None if quote is None else QuotePdfRenderer().render(quote_document(quote=quote))
