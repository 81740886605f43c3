"""Creating and editing a quote while it is a draft."""

from collections.abc import Sequence
from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from licensing.models import Customer
from orderdesk.numbering import next_number
from quotes.models import JAPAN, Quote, QuoteEvent, QuoteLine, quote_number
from orderdesk.audit import Actor
from quotes.services.errors import QuoteActionNotAllowed, QuoteInvalid
from quotes.services.pricing import LineInput, PricedQuote, quote_price
from quotes.services.transitions import record_event


def japan_today() -> date:
    return timezone.now().astimezone(JAPAN).date()


def default_valid_until() -> date:
    """Valid for QUOTE_VALIDITY_DAYS, to the end of that day in Japan."""
    return japan_today() + timedelta(days=settings.QUOTE_VALIDITY_DAYS)


def quote_create(
    *,
    customer: Customer,
    lines: Sequence[LineInput],
    actor: Actor,
    discount: int = 0,
    valid_until: date | None = None,
    payment_terms: str = "",
    notes: str = "",
    renews=None,
) -> Quote:
    """A new draft quote, revision 1, priced from the catalog tiers; with `renews`, a renewal of that subscription's term."""
    valid_until = valid_until or default_valid_until()
    priced = _checked_price(customer=customer, lines=lines, discount=discount, valid_until=valid_until)
    base_number = next_number("Q")
    with transaction.atomic():
        quote = Quote(
            number=quote_number(base_number, 1),
            base_number=base_number,
            customer=customer,
            valid_until=valid_until,
            payment_terms=payment_terms or settings.QUOTE_PAYMENT_TERMS,
            notes=notes,
            created_by=actor.user,
            renews=renews,
            renews_term_end=renews.term_end if renews is not None else None,
        )
        _apply_prices(quote, priced)
        quote.save()
        _write_lines(quote, priced)
        record_event(quote=quote, actor=actor, action=QuoteEvent.Action.CREATED, to_status=quote.status)
    return quote


def quote_update(
    *,
    quote: Quote,
    lines: Sequence[LineInput],
    actor: Actor,
    discount: int = 0,
    valid_until: date,
    payment_terms: str,
    notes: str = "",
    customer: Customer | None = None,
) -> Quote:
    """Rewrite a draft. Editing an approved quote withdraws the approval: it is a draft again."""
    customer = customer or quote.customer
    priced = _checked_price(customer=customer, lines=lines, discount=discount, valid_until=valid_until)
    with transaction.atomic():
        quote = Quote.objects.select_for_update().get(pk=quote.pk)
        if not quote.is_editable:
            raise QuoteActionNotAllowed(quote, _("A quote that was submitted or sent cannot be edited; revise it instead."))
        from_status = quote.status
        quote.customer = customer
        quote.valid_until = valid_until
        quote.payment_terms = payment_terms or settings.QUOTE_PAYMENT_TERMS
        quote.notes = notes
        quote.status = Quote.Status.DRAFT
        quote.approved_by = None
        quote.updated_at = timezone.now()
        _apply_prices(quote, priced)
        quote.save()
        quote.lines.all().delete()
        _write_lines(quote, priced)
        record_event(
            quote=quote,
            actor=actor,
            action=QuoteEvent.Action.EDITED,
            from_status=from_status,
            to_status=quote.status,
            data={"total": quote.total},
        )
    return quote


def quote_revise(*, quote: Quote, actor: Actor) -> Quote:
    """A new draft revision (same number, suffix -R<n>) that supersedes this one at once.

    The old revision stays exactly as it was sent, with status superseded, so it
    can no longer be accepted. The new draft starts as a copy with a fresh
    validity; editing it re-prices it from the catalog.
    """
    with transaction.atomic():
        old = Quote.objects.select_for_update().get(pk=quote.pk)
        if old.status not in Quote.REVISABLE_STATUSES:
            raise QuoteActionNotAllowed(old, _("Only a sent, declined or expired quote can be revised."))
        revision = old.revision + 1
        new = Quote.objects.create(
            number=quote_number(old.base_number, revision),
            base_number=old.base_number,
            revision=revision,
            supersedes=old,
            customer=old.customer,
            renews_id=old.renews_id,
            renews_term_end=old.renews_term_end,
            valid_until=default_valid_until(),
            payment_terms=old.payment_terms,
            notes=old.notes,
            list_total=old.list_total,
            discount=old.discount,
            subtotal=old.subtotal,
            tax=old.tax,
            total=old.total,
            tax_rows=old.tax_rows,
            needs_approval=old.needs_approval,
            created_by=actor.user,
        )
        copies = list(old.lines.all())
        for line in copies:
            line.pk = None
            line.quote = new
        QuoteLine.objects.bulk_create(copies)
        record_event(quote=new, actor=actor, action=QuoteEvent.Action.REVISED, to_status=new.status, data={"supersedes": old.number})
        from_status = old.status
        old.status = Quote.Status.SUPERSEDED
        old.status_changed_at = old.updated_at = timezone.now()
        old.save(update_fields=["status", "status_changed_at", "updated_at"])
        record_event(
            quote=old,
            actor=actor,
            action=QuoteEvent.Action.SUPERSEDED,
            from_status=from_status,
            to_status=old.status,
            data={"superseded_by": new.number},
        )
    return new


def _checked_price(*, customer: Customer, lines, discount: int, valid_until: date) -> PricedQuote:
    errors = {}
    if not customer.is_active:
        errors["customer"] = [_("Customer %(code)s is not active.") % {"code": customer.code}]
    if valid_until < japan_today():
        errors["valid_until"] = [_("The validity may not end in the past.")]
    try:
        priced = quote_price(lines=lines, discount=discount)
    except QuoteInvalid as invalid:
        errors.update(invalid.errors)
    if errors:
        raise QuoteInvalid(errors)
    return priced


def _apply_prices(quote: Quote, priced: PricedQuote) -> None:
    totals = priced.totals
    quote.list_total = priced.list_total
    quote.discount = totals.discount
    quote.subtotal = totals.subtotal
    quote.tax = totals.tax
    quote.total = totals.total
    quote.tax_rows = [{"rate": row.rate, "subtotal": row.subtotal, "tax": row.tax} for row in totals.tax_rows]
    quote.needs_approval = priced.needs_approval


def _write_lines(quote: Quote, priced: PricedQuote) -> None:
    QuoteLine.objects.bulk_create(
        QuoteLine(
            quote=quote,
            position=position,
            product=line.product,
            sku=line.product.sku,
            product_name=line.product.name_ja,
            unit=line.product.unit,
            tax_rate=line.tax_rate,
            quantity=line.quantity,
            unit_price=line.unit_price,
            discount_percent=line.discount_percent,
            discount_yen=line.discount_yen,
            amount=line.amount,
        )
        for position, line in enumerate(priced.lines, start=1)
    )
