"""A quote's life after drafting: approval, sending, declining, acceptance, expiry.

draft ─(discount over the threshold)→ pending_approval ─approve→ approved ─send→ sent
      ←──────────── return (with a comment) ─────────┘
draft ─(no approval needed)─ send → sent → accepted | declined | expired | superseded (revise)
"""

from datetime import datetime

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from quotes.models import JAPAN, Quote, QuoteEvent
from orderdesk.audit import Actor
from quotes.selectors import quote_author_ids
from quotes.services.errors import QuoteActionNotAllowed, QuoteNotAcceptable
from quotes.services.notices import quote_sent_record
from quotes.services.transitions import quote_transition

EXPIRY = Actor.system("expiry")


def quote_submit_for_approval(*, quote: Quote, actor: Actor) -> Quote:
    def guard(locked: Quote) -> None:
        if not locked.needs_approval:
            raise QuoteActionNotAllowed(locked, _("This quote's discount needs no approval; send it directly."))

    return quote_transition(
        quote_id=quote.pk,
        allowed_from={Quote.Status.DRAFT},
        to_status=Quote.Status.PENDING_APPROVAL,
        actor=actor,
        action=QuoteEvent.Action.SUBMITTED,
        not_allowed_message=_("Only a draft can be submitted for approval."),
        guard=guard,
    )


def quote_approve(*, quote: Quote, actor: Actor, comment: str = "") -> Quote:
    """A manager approves the discount. Four eyes: never someone who wrote the quote."""

    def guard(locked: Quote) -> None:
        if wrote_quote(user=actor.user, quote=locked):
            raise QuoteActionNotAllowed(
                locked, _("You wrote this quote: another manager must approve its discount (four eyes).")
            )

    return quote_transition(
        quote_id=quote.pk,
        allowed_from={Quote.Status.PENDING_APPROVAL},
        to_status=Quote.Status.APPROVED,
        actor=actor,
        action=QuoteEvent.Action.APPROVED,
        reason=comment,
        changes={"approved_by": actor.user},
        not_allowed_message=_("Only a quote waiting for approval can be approved."),
        guard=guard,
    )


def wrote_quote(*, user, quote: Quote) -> bool:
    """Did this user create, revise or edit this revision of the quote (so may not approve it)?"""
    return user is not None and user.pk in quote_author_ids(quotes=[quote])[quote.pk]


def quote_return(*, quote: Quote, actor: Actor, comment: str) -> Quote:
    """Send a quote back to its author as a draft; the comment says what to change."""
    if not comment.strip():
        raise QuoteActionNotAllowed(quote, _("Say what should change when returning a quote."))
    return quote_transition(
        quote_id=quote.pk,
        allowed_from={Quote.Status.PENDING_APPROVAL},
        to_status=Quote.Status.DRAFT,
        actor=actor,
        action=QuoteEvent.Action.RETURNED,
        reason=comment.strip(),
        not_allowed_message=_("Only a quote waiting for approval can be returned."),
    )


def quote_send(*, quote: Quote, actor: Actor) -> Quote:
    """Freeze the quote as issued today; with it the customer's quote.sent event and the PDF's e-mail (sent by a worker)."""

    def guard(locked: Quote) -> None:
        if locked.status == Quote.Status.DRAFT and locked.needs_approval:
            raise QuoteActionNotAllowed(
                locked,
                _("The discount is over %(percent)s%% of the list price: a manager must approve it first.")
                % {"percent": settings.QUOTE_APPROVAL_DISCOUNT_PERCENT},
            )
        if not locked.customer.billing_email:
            raise QuoteActionNotAllowed(locked, _("The customer has no billing e-mail address to send the quote to."))
        if locked.is_past_validity():
            raise QuoteActionNotAllowed(locked, _("The validity has already ended; set a later date first."))

    quote = Quote.objects.select_related("customer").get(pk=quote.pk)
    customer = quote.customer
    return quote_transition(
        quote_id=quote.pk,
        allowed_from={Quote.Status.DRAFT, Quote.Status.APPROVED},
        to_status=Quote.Status.SENT,
        actor=actor,
        action=QuoteEvent.Action.SENT,
        not_allowed_message=_("Only a draft or an approved quote can be sent."),
        guard=guard,
        changes={
            "issue_date": timezone.localdate(timezone=JAPAN),
            "recipient_name": customer.name,
            "recipient_is_company": customer.honorific == customer.Honorific.COMPANY,
            "issuer": dict(settings.ORDERDESK_ISSUER),
            "sent_to": customer.billing_email,
            "sent_at": timezone.now(),
        },
        data={"to": customer.billing_email, "total": quote.total},
        within=lambda sent: quote_sent_record(quote=sent),
    )


def quote_decline(*, quote: Quote, actor: Actor, comment: str = "") -> Quote:
    return quote_transition(
        quote_id=quote.pk,
        allowed_from={Quote.Status.SENT},
        to_status=Quote.Status.DECLINED,
        actor=actor,
        action=QuoteEvent.Action.DECLINED,
        reason=comment.strip(),
        not_allowed_message=_("Only a sent quote can be declined."),
    )


def quote_acceptance_refusal(quote: Quote, *, now: datetime | None = None) -> QuoteNotAcceptable | None:
    """Why this quote cannot be accepted now, or None if it can."""
    if quote.status == Quote.Status.SENT:
        return QuoteNotAcceptable(quote, "expired") if quote.is_past_validity(now) else None
    if quote.status == Quote.Status.SUPERSEDED:
        successor = Quote.objects.filter(supersedes=quote).values_list("number", flat=True).first() or ""
        return QuoteNotAcceptable(quote, "superseded", successor=successor)
    if quote.status in (Quote.Status.EXPIRED, Quote.Status.DECLINED):
        return QuoteNotAcceptable(quote, quote.status)
    return QuoteNotAcceptable(quote, "not_sent")


def quote_mark_accepted(*, quote: Quote, actor: Actor, order_number: str) -> Quote:
    """Record the acceptance. Called by orders.services.from_quote inside the transaction that creates the order."""

    def guard(locked: Quote) -> None:
        refusal = quote_acceptance_refusal(locked)
        if refusal is not None:
            raise refusal

    return quote_transition(
        quote_id=quote.pk,
        allowed_from={Quote.Status.SENT},
        to_status=Quote.Status.ACCEPTED,
        actor=actor,
        action=QuoteEvent.Action.ACCEPTED,
        not_allowed_message=_("Only a sent quote can be accepted."),
        guard=guard,
        data={"order": order_number},
    )


def quote_expire_due(*, now: datetime | None = None) -> int:
    """Expire every sent quote whose validity ended (the daily beat task). Safe to run twice."""
    now = now or timezone.now()
    expired = 0
    candidates = Quote.objects.filter(
        status=Quote.Status.SENT, valid_until__lt=now.astimezone(JAPAN).date()
    ).values_list("pk", flat=True)
    for quote_id in candidates:
        try:
            quote_transition(
                quote_id=quote_id,
                allowed_from={Quote.Status.SENT},
                to_status=Quote.Status.EXPIRED,
                actor=EXPIRY,
                action=QuoteEvent.Action.EXPIRED,
                not_allowed_message="accepted, declined or revised meanwhile",
            )
            expired += 1
        except QuoteActionNotAllowed:
            continue
    return expired

