"""Drafting a renewal quote from the renewals list: the normal quote, for the subscription's current seats.

The draft then goes the normal way (edit, approval when discounted, send,
acceptance). Accepted, its order extends the subscription's term instead of
adding seats (orders.services.pipeline → licensing.renewals.subscription_renew).
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _

from licensing.models import Subscription
from licensing.renewals import next_term
from licensing.selectors import with_seats
from orderdesk.audit import Actor
from quotes.models import Quote
from quotes.services.editing import quote_create
from quotes.services.errors import QuoteInvalid
from quotes.services.pricing import LineInput

# A renewal quote in one of these is the renewal of its term: drafting again opens it instead of a second one.
LIVE_STATUSES = frozenset(
    {Quote.Status.DRAFT, Quote.Status.PENDING_APPROVAL, Quote.Status.APPROVED, Quote.Status.SENT, Quote.Status.ACCEPTED}
)


@dataclass(frozen=True)
class RenewalDraft:
    quote: Quote
    created: bool  # False: the term already had a live renewal quote, which is returned


def renewal_quote_for(subscription: Subscription) -> Quote | None:
    """The live renewal quote of the subscription's current term, if there is one (the newest)."""
    return (
        Quote.objects.filter(renews=subscription, renews_term_end=subscription.term_end, status__in=LIVE_STATUSES)
        .order_by("-created_at", "-id")
        .first()
    )


def renewal_quote_draft(*, subscription_id: int, actor: Actor) -> RenewalDraft:
    """A draft quote renewing the subscription for one more term at its current seats, or the live one it has.

    Priced from the catalog's tiers for that many seats (a full term: a
    renewal is not co-termed). Raises QuoteInvalid when the subscription has
    no seats or its customer or product can no longer be quoted.
    """
    with transaction.atomic():
        # Locked so that two clicks (or two salespeople) draft one quote, not two.
        subscription = (
            with_seats(Subscription.objects.select_for_update(of=("self",)))
            .select_related("customer", "product")
            .get(pk=subscription_id)
        )
        existing = renewal_quote_for(subscription)
        if existing is not None:
            return RenewalDraft(existing, created=False)
        if subscription.seats < 1:
            raise QuoteInvalid({"lines": [_("The subscription has no seats to renew.")]})
        if not subscription.product.is_active:
            raise QuoteInvalid({"lines": [_("%(sku)s is no longer sold.") % {"sku": subscription.product.sku}]})
        start, end = next_term(subscription)
        quote = quote_create(
            customer=subscription.customer,
            lines=[LineInput(product=subscription.product, quantity=subscription.seats)],
            actor=actor,
            notes=f"ライセンス更新: {subscription.product.name_ja} {_date(start)}〜{_date(end)}（現在のライセンスキーを継続してご利用いただけます）",
            renews=subscription,
        )
    return RenewalDraft(quote, created=True)


def _date(value) -> str:
    return f"{value.year}年{value.month}月{value.day}日"
