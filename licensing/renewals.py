"""Renewals: which terms are ending, the notices to the customers' billing contacts, and extending a term.

    renewals_due(...)          the subscriptions whose term ends within 90 days (or lapsed, still in grace)
    renewal_notices_send(...)  Celery beat, daily: the 90-, 30- and 7-day notices (e-mail and event), each once
    subscription_renew(...)    an accepted renewal: the term extended, the seats set, once per reference

Licensing knows nothing of quotes or orders: a renewal quote is drafted in
quotes (quotes.services.renewals), and the order an accepted renewal quote
becomes calls subscription_renew from the pipeline's provisioning step.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet, Sum

from licensing.models import Customer, RenewalNotice, SeatLedgerEntry, Subscription, SubscriptionRenewal
from licensing.selectors import with_seats
from licensing.services import LedgerError, ReferenceConflict, japan_today, term_end_for
from orderdesk.notifications.emails import email_enqueue
from orderdesk.notifications.outbox import event_record

# A term's end is announced this many days before it (each notice once), and the renewals list looks this far ahead.
RENEWAL_NOTICE_DAYS = (90, 30, 7)
RENEWAL_HORIZON_DAYS = RENEWAL_NOTICE_DAYS[0]


def notice_band(days_left: int) -> int | None:
    """The notice a term `days_left` from its end is due: the nearest of 90, 30, 7 not below it; None outside them.

    A notice skipped (beat down for a week) is not sent late once a nearer
    one is due: 20 days before the end, the 30-day notice goes, not the 90-day one.
    """
    if days_left < 0:
        return None
    due = [days for days in RENEWAL_NOTICE_DAYS if days_left <= days]
    return min(due) if due else None


def renewals_due(*, today: date | None = None, within_days: int = RENEWAL_HORIZON_DAYS) -> QuerySet[Subscription]:
    """Active subscriptions with seats whose term ends within `within_days`, or ended no longer ago than the grace.

    Soonest end first, annotated with `seats`; customer and product selected.
    """
    today = today or japan_today()
    return (
        with_seats(Subscription.objects.filter(status=Subscription.Status.ACTIVE, customer__is_active=True))
        .filter(
            term_end__gte=today - timedelta(days=settings.LICENSE_EXPIRY_GRACE_DAYS),
            term_end__lte=today + timedelta(days=within_days),
            seats__gt=0,
        )
        .select_related("customer", "product")
        .order_by("term_end", "customer__code", "product__sku")
    )


# --- Notices ---------------------------------------------------------------------------


def renewal_notices_send(*, today: date | None = None) -> int:
    """Queue each subscription's due notice (90, 30, 7 days before its term ends) once; returns how many were queued.

    Per subscription one transaction writes the RenewalNotice row (unique per
    subscription, term end and days), the e-mail to the billing contact and
    the `subscription.renewal_due` event (orderdesk.notifications: sent and
    delivered by the notifications queue after the commit, retried there). A
    second run (a redelivered message, beat restarted, two beats) finds the
    row and queues nothing again. A renewed term has a new end and its own
    notices. Customers without a billing e-mail get the event but no e-mail.
    """
    today = today or japan_today()
    queued = 0
    for subscription in renewals_due(today=today):
        band = notice_band((subscription.term_end - today).days)
        if band is not None and _notice_record(subscription=subscription, days_before=band, today=today):
            queued += 1
    return queued


def _notice_record(*, subscription: Subscription, days_before: int, today: date) -> bool:
    try:
        with transaction.atomic():
            notice = RenewalNotice.objects.create(
                subscription=subscription,
                term_end=subscription.term_end,
                days_before=days_before,
                sent_to=subscription.customer.billing_email,
            )
            event_record(
                customer_id=subscription.customer_id,
                event_type="subscription.renewal_due",
                payload=_event_payload(subscription, days_before=days_before, today=today),
            )
            if notice.sent_to:
                renewal_notice_email(notice=notice, subscription=subscription, today=today)
    except IntegrityError:
        return False  # sent before
    return True


def _event_payload(subscription: Subscription, *, days_before: int, today: date) -> dict:
    start, end = next_term(subscription)
    return {
        "object": {
            "sku": subscription.product.sku,
            "seats": subscription.seats,
            "term_start": subscription.term_start.isoformat(),
            "term_end": subscription.term_end.isoformat(),
            "status": subscription.status,
        },
        "days_left": (subscription.term_end - today).days,
        "notice": days_before,
        "grace_until": (subscription.term_end + timedelta(days=settings.LICENSE_EXPIRY_GRACE_DAYS)).isoformat(),
        "renewal_term": {"start": start.isoformat(), "end": end.isoformat()},
    }


NOTICE_SUBJECT = "【ライセンス更新のご案内】{product}の有効期限は{term_end}です"
NOTICE_BODY = """{recipient}

いつもお世話になっております。{issuer}です。
ご利用中のライセンスの有効期限が近づいておりますので、ご案内申し上げます。

製品: {product}（{sku}）
ユーザー数: {seats}
有効期限: {term_end}（あと{days_left}日）

期限を過ぎますと、{grace}ライセンスキーはご利用いただけなくなります。
ご契約の更新をご希望の場合は、更新のお見積りをお送りいたしますので、
本メールへのご返信、または弊社営業担当までお申し付けください。
更新後も現在のライセンスキーをそのままお使いいただけます。

{issuer}
"""


def _japanese_date(value: date) -> str:
    return f"{value.year}年{value.month}月{value.day}日"


def renewal_notice_email(*, notice: RenewalNotice, subscription: Subscription, today: date) -> None:
    """The notice itself, in Japanese, to the billing contact: queued in the outbox, sent by the notifications queue."""
    customer = subscription.customer
    honorific = "御中" if customer.honorific == Customer.Honorific.COMPANY else "様"
    grace_days = settings.LICENSE_EXPIRY_GRACE_DAYS
    grace_end = subscription.term_end + timedelta(days=grace_days)
    issuer = settings.ORDERDESK_ISSUER.get("name", "")
    email_enqueue(
        customer_id=customer.pk,
        topic=f"subscription:{subscription.pk}",
        kind="renewal_notice",
        subject=NOTICE_SUBJECT.format(product=subscription.product.name_ja, term_end=_japanese_date(subscription.term_end)),
        body=NOTICE_BODY.format(
            recipient=f"{customer.name} {honorific}",
            issuer=issuer,
            product=subscription.product.name_ja,
            sku=subscription.product.sku,
            seats=subscription.seats,
            term_end=_japanese_date(subscription.term_end),
            days_left=(subscription.term_end - today).days,
            grace=f"猶予期間（{_japanese_date(grace_end)}まで）の後、" if grace_days else "",
        ),
        to=[notice.sent_to],
    )


# --- Extending a term --------------------------------------------------------------------


@dataclass(frozen=True)
class Renewed:
    renewal: SubscriptionRenewal
    created: bool  # False: this reference had renewed the subscription before, nothing changed now


class RenewalRefused(LedgerError):
    """The renewal does not fit the subscription as it is now (its term was renewed meanwhile, another customer's)."""


def subscription_renew(
    *, subscription_id: int, seats: int, reference: str, reason: str = "", expected_term_end: date | None = None
) -> Renewed:
    """Extend the subscription by one term of its product from the day after its term ends, once per `reference`.

    The keys stay as they are (they belong to the subscription, not to a
    term), and the seats become `seats`: when the renewal is for more or fewer
    seats than the subscription has, one ledger entry (reference
    "<reference>:seats") makes up the difference; renewing the same seats
    records nothing in the ledger, so no seat counts twice. The subscription
    row is locked while it is renewed. A second call with the same reference
    returns the first renewal; the reference recorded for another
    subscription raises ReferenceConflict. With `expected_term_end`, a term
    that no longer ends then (renewed by something else meanwhile) raises
    RenewalRefused instead of being extended twice.
    """
    if seats < 1:
        raise LedgerError(f"a renewal keeps at least one seat, got {seats} for {reference}")
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().select_related("product").get(pk=subscription_id)
        existing = SubscriptionRenewal.objects.filter(reference=reference).first()
        if existing is not None:
            if existing.subscription_id != subscription.pk:
                raise ReferenceConflict(f"{reference} already renewed subscription {existing.subscription_id}")
            return Renewed(existing, created=False)
        if expected_term_end is not None and subscription.term_end != expected_term_end:
            raise RenewalRefused(
                f"{subscription} was to be renewed from its term ending {expected_term_end}, but its term now ends "
                f"{subscription.term_end}"
            )
        previous_end = subscription.term_end
        new_end = term_end_for(term_start=previous_end + timedelta(days=1), term_months=subscription.product.term_months)
        current = SeatLedgerEntry.objects.filter(subscription=subscription).aggregate(total=Sum("quantity"))["total"] or 0
        if seats != current:
            SeatLedgerEntry.objects.create(
                subscription=subscription,
                quantity=seats - current,
                reference=f"{reference}:seats",
                reason=reason or f"renewed for {seats} seats ({reference})",
            )
        Subscription.objects.filter(pk=subscription.pk).update(term_end=new_end)
        renewal = SubscriptionRenewal.objects.create(
            subscription=subscription, reference=reference, previous_term_end=previous_end, term_end=new_end, seats=seats
        )
    return Renewed(renewal, created=True)


def next_term(subscription: Subscription) -> tuple[date, date]:
    """The first and last day of the term a renewal of `subscription` would add."""
    start = subscription.term_end + timedelta(days=1)
    return start, term_end_for(term_start=start, term_months=subscription.product.term_months)
