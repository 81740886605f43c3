"""Reads for the shared backlog: which orders need a person, their counts, their age.

An order needs a person when it is `needs_review` (a rule held it), `failed`
(a technical error outlived the retries), or stuck in a moving state longer
than the sweeper's threshold (ORDER_STUCK_AFTER_SECONDS). Every list and count
on the backlog pages starts from `backlog_orders`.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from orders.models import Order, ReviewReason
from orders.permissions import reason_q, with_reasons_text
from orders.rules import OPEN_EXCLUDED_STATUSES

DECISION_STATUSES = (Order.Status.NEEDS_REVIEW, Order.Status.FAILED)


class AgeBand:
    FRESH = "fresh"
    AGEING = "ageing"
    OVERDUE = "overdue"


def stuck_cutoff(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.ORDER_STUCK_AFTER_SECONDS)


def stuck_q(now: datetime) -> Q:
    return Q(status__in=Order.MOVING_STATUSES, status_changed_at__lt=stuck_cutoff(now))


def backlog_q(now: datetime) -> Q:
    # Both halves are served by the (status, status_changed_at) index.
    return Q(status__in=DECISION_STATUSES) | stuck_q(now)


def backlog_orders(*, now: datetime | None = None) -> QuerySet[Order]:
    """Every order that needs a person, with `reasons_text` for reason filters."""
    now = now or timezone.now()
    return with_reasons_text(Order.objects.filter(backlog_q(now)))


def claim_cutoff(now: datetime) -> datetime:
    return now - timedelta(minutes=settings.BACKLOG_CLAIM_IDLE_MINUTES)


def active_claim_q(now: datetime) -> Q:
    return Q(claimed_by__isnull=False, claimed_at__gte=claim_cutoff(now))


def unclaimed_q(now: datetime) -> Q:
    """Nobody holds it: never claimed, or the claim lapsed after the idle time."""
    return Q(claimed_by__isnull=True) | Q(claimed_at__lt=claim_cutoff(now)) | Q(claimed_at__isnull=True)


def claim_is_active(order: Order, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    return order.claimed_by_id is not None and order.claimed_at is not None and order.claimed_at >= claim_cutoff(now)


def age_band_ranges(now: datetime) -> dict[str, Q]:
    ageing_from = now - timedelta(minutes=settings.BACKLOG_SLA_AGEING_MINUTES)
    overdue_from = now - timedelta(minutes=settings.BACKLOG_SLA_OVERDUE_MINUTES)
    return {
        AgeBand.FRESH: Q(created_at__gt=ageing_from),
        AgeBand.AGEING: Q(created_at__lte=ageing_from, created_at__gt=overdue_from),
        AgeBand.OVERDUE: Q(created_at__lte=overdue_from),
    }


def age_band(created_at: datetime, now: datetime | None = None) -> str:
    minutes = ((now or timezone.now()) - created_at).total_seconds() / 60
    if minutes >= settings.BACKLOG_SLA_OVERDUE_MINUTES:
        return AgeBand.OVERDUE
    if minutes >= settings.BACKLOG_SLA_AGEING_MINUTES:
        return AgeBand.AGEING
    return AgeBand.FRESH


@dataclass(frozen=True)
class BacklogCounts:
    total: int
    needs_review: int
    failed: int
    stuck: int
    unclaimed: int
    mine: int
    by_reason: dict[str, int]
    by_age: dict[str, int]


def backlog_counts(*, user, now: datetime | None = None) -> BacklogCounts:
    """Counts for the top of the page: totals, per reason, per age band, claims. One aggregate query."""
    now = now or timezone.now()
    aggregates = {
        "total": Count("pk"),
        "needs_review": Count("pk", filter=Q(status=Order.Status.NEEDS_REVIEW)),
        "failed": Count("pk", filter=Q(status=Order.Status.FAILED)),
        "stuck": Count("pk", filter=stuck_q(now)),
        "unclaimed": Count("pk", filter=unclaimed_q(now)),
        "mine": Count("pk", filter=active_claim_q(now) & Q(claimed_by=user)),
    }
    for code in ReviewReason.values:
        aggregates[f"reason_{code}"] = Count("pk", filter=reason_q(code))
    for band, band_q in age_band_ranges(now).items():
        aggregates[f"age_{band}"] = Count("pk", filter=band_q)
    row = backlog_orders(now=now).aggregate(**aggregates)
    return BacklogCounts(
        total=row["total"],
        needs_review=row["needs_review"],
        failed=row["failed"],
        stuck=row["stuck"],
        unclaimed=row["unclaimed"],
        mine=row["mine"],
        by_reason={code: row[f"reason_{code}"] for code in ReviewReason.values},
        by_age={band: row[f"age_{band}"] for band in (AgeBand.FRESH, AgeBand.AGEING, AgeBand.OVERDUE)},
    )


def backlog_page_rows(orders: QuerySet[Order]) -> QuerySet[Order]:
    """What one row shows, loaded in a fixed number of queries whatever the page size."""
    return orders.select_related("customer", "claimed_by").prefetch_related("lines")


def is_in_backlog(order: Order, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    if order.status in DECISION_STATUSES:
        return True
    return order.status in Order.MOVING_STATUSES and order.status_changed_at < stuck_cutoff(now)


def customer_credit_used(customer) -> int:
    """Yen of the customer's open orders — the sum the credit-limit rule compares with the limit."""
    open_orders = Order.objects.filter(customer=customer).exclude(status__in=OPEN_EXCLUDED_STATUSES)
    return open_orders.aggregate(total=Sum("total"))["total"] or 0
