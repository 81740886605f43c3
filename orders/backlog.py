"""Reads for the shared backlog: which orders need a person, their counts, their age.

An order needs a person when it is `needs_review` (a rule held it), `failed`
(a technical error outlived the retries), or stuck in a moving state longer
than the sweeper's threshold (ORDER_STUCK_AFTER_SECONDS). Every list and count
on the backlog pages starts from `backlog_orders`.
"""

import functools
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Aggregate, Case, Count, JSONField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import JSONArray
from django.utils import timezone

from orders.models import Order, OrderLine, ReviewReason
from orders.permissions import may_handle_check, with_reasons_text

DECISION_STATUSES = (Order.Status.NEEDS_REVIEW, Order.Status.FAILED)
# Every status an order in the backlog can have: the predicate of the partial index
# `order_open_oldest` (orders/models.py), which keeps the backlog fast at any volume.
OPEN_STATUSES = (*DECISION_STATUSES, *sorted(Order.MOVING_STATUSES))


class AgeBand:
    FRESH = "fresh"
    AGEING = "ageing"
    OVERDUE = "overdue"


def stuck_cutoff(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.ORDER_STUCK_AFTER_SECONDS)


def stuck_q(now: datetime) -> Q:
    return Q(status__in=Order.MOVING_STATUSES, status_changed_at__lt=stuck_cutoff(now))


def backlog_q(now: datetime) -> Q:
    """Open, and not a moving order that moved within the stuck threshold.

    The same orders as "a decision status, or a moving status for too long"
    (status_changed_at is never null), written so that PostgreSQL sees the
    plain `status IN (open)` of the partial indexes on open orders and
    estimates the backlog's size about right. Written as that OR, the planner
    counted the status test twice and expected a tenth of the backlog, then
    sorted every order with a review reason rather than walk the index on the
    total (11 ms instead of about 1 ms for the credit-reason list by largest total).
    """
    recently_moved = Q(status__in=Order.MOVING_STATUSES, status_changed_at__gte=stuck_cutoff(now))
    return Q(status__in=OPEN_STATUSES) & ~recently_moved


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


COUNTS_CACHE_KEY = "backlog:counts"


def mine_cache_key(user) -> str:
    return f"{COUNTS_CACHE_KEY}:mine:{user.pk}"


def backlog_counts(*, user, now: datetime | None = None) -> BacklogCounts:
    """The counts for this user: the shared counts and the user's own claims, each cached for a few seconds.

    In a surge dozens of people keep the page open and it refreshes itself:
    the shared counts are computed at most once per BACKLOG_COUNTS_CACHE_SECONDS
    for all of them, and each person's count of their own claims at most once
    per that time for them, so a refresh usually asks the database for the
    list alone. Both come from the cache in one round trip.
    `forget_backlog_counts` drops them after a staff action, so the person who
    acted sees the new numbers at once.
    """
    now = now or timezone.now()
    seconds = settings.BACKLOG_COUNTS_CACHE_SECONDS
    keys = {"shared": COUNTS_CACHE_KEY, "mine": mine_cache_key(user)}
    cached = cache.get_many(keys.values()) if seconds else {}
    shared, mine = cached.get(keys["shared"]), cached.get(keys["mine"])
    counted = {}
    if shared is None:
        shared = counted[keys["shared"]] = shared_backlog_counts(now=now)
    if mine is None:
        mine = counted[keys["mine"]] = backlog_orders(now=now).filter(active_claim_q(now), claimed_by=user).count()
    if counted and seconds:
        cache.set_many(counted, seconds)
    return replace(shared, mine=mine)


def known_list_count(counts: BacklogCounts, narrowing: dict) -> int | None:
    """How many orders a list filtered by `narrowing` holds, when the counts already say; else None.

    The whole backlog and each single count link at the top of the page
    (one reason, state, age band, or unclaimed) are already counted: the list
    then needs no COUNT(*) of its own over thousands of open orders. Not the
    user's own claims: that count is cached per person and a claim made
    elsewhere would leave it short, hiding orders from the list; counting
    them uses the index on claimed_by and reads a handful of rows.
    """
    if not narrowing:
        return counts.total
    if len(narrowing) != 1:
        return None
    [(name, value)] = narrowing.items()
    known = {
        "reason": counts.by_reason,
        "age": counts.by_age,
        "state": {"needs_review": counts.needs_review, "failed": counts.failed, "stuck": counts.stuck},
        "claim": {"unclaimed": counts.unclaimed},
    }
    return known.get(name, {}).get(value)


def forget_backlog_counts(*, user) -> None:
    """After `user` acted: the shared counts and the user's own count of claims are recounted on the next page."""
    cache.delete_many([COUNTS_CACHE_KEY, mine_cache_key(user)])


def shared_backlog_counts(*, now: datetime) -> BacklogCounts:
    """Counts for the top of the page: totals, per reason, per age band, unclaimed. One query.

    The database groups the backlog by what the counts need (status, reasons,
    stuck, claim, age band): a few dozen groups however many orders wait,
    computed in one pass. Python then adds the groups up; an order with two
    reasons counts once under each.
    """
    now = now or timezone.now()
    bands = age_band_ranges(now)
    groups = (
        backlog_orders(now=now)
        .annotate(
            is_stuck=Case(When(stuck_q(now), then=Value(True)), default=Value(False)),
            claim=Case(When(unclaimed_q(now), then=Value("unclaimed")), default=Value("claimed")),
            band=Case(
                When(bands[AgeBand.FRESH], then=Value(AgeBand.FRESH)),
                When(bands[AgeBand.AGEING], then=Value(AgeBand.AGEING)),
                default=Value(AgeBand.OVERDUE),
            ),
        )
        .order_by()
        .values("status", "review_reasons", "is_stuck", "claim", "band")
        .annotate(orders=Count("pk"))
    )
    by_status: Counter = Counter()
    by_claim: Counter = Counter()
    by_reason: Counter = Counter({code: 0 for code in ReviewReason.values})
    by_age: Counter = Counter({band: 0 for band in (AgeBand.FRESH, AgeBand.AGEING, AgeBand.OVERDUE)})
    stuck = 0
    for group in groups:
        n = group["orders"]
        by_status[group["status"]] += n
        by_claim[group["claim"]] += n
        by_age[group["band"]] += n
        stuck += n if group["is_stuck"] else 0
        for code in set(group["review_reasons"] or []):
            by_reason[code] += n
    return BacklogCounts(
        total=sum(by_status.values()),
        needs_review=by_status[Order.Status.NEEDS_REVIEW],
        failed=by_status[Order.Status.FAILED],
        stuck=stuck,
        unclaimed=by_claim["unclaimed"],
        mine=0,
        by_reason=dict(by_reason),
        by_age=dict(by_age),
    )


class LineList(Aggregate):
    """The grouped values as one JSON array: json_group_array in SQLite, jsonb_agg in PostgreSQL.

    jsonb rather than json in PostgreSQL: Django reads jsonb as text and decodes
    it like every JSONField, whereas psycopg would decode json itself.
    """

    function = "JSONB_AGG"
    output_field = JSONField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, function="JSON_GROUP_ARRAY", **extra_context)


@functools.cache
def line_items_subquery() -> Subquery:
    """[position, sku, quantity] of each of the order's lines, in no set order: `rows_for_viewer` sorts them.

    Built once: annotate() resolves a copy of it for each query.
    """
    lines = (
        OrderLine.objects.filter(order=OuterRef("pk"))
        .order_by()
        .values("order")
        .annotate(items=LineList(JSONArray("position", "sku", "quantity")))
        .values("items")
    )
    return Subquery(lines, output_field=JSONField())


# The columns one backlog row shows, in the order of BacklogRow's first fields; the list loads nothing else.
ROW_COLUMNS = (
    "pk", "number", "customer__code", "customer__name", "po_number", "status", "status_reason", "review_reasons",
    "created_at", "total", "claimed_by_id", "claimed_by__username", "claimed_at", "line_items",
)  # fmt: skip


@dataclass(slots=True)
class BacklogRow:
    """One row of the backlog list: plain values from one query, no model instances.

    Building an Order and a Customer per row, and reading the lines in a query
    of their own, cost more than the SQL of the whole page (bench/README.md).
    The last four fields are worked out by `rows_for_viewer`.
    """

    pk: int
    number: str
    customer_code: str
    customer_name: str
    po_number: str
    status: str
    status_reason: str
    review_reasons: list[str]
    created_at: datetime
    total: int
    claimed_by_id: int | None
    claimed_by_username: str | None
    claimed_at: datetime | None
    line_items: list[tuple[str, int]]
    may_handle: bool = False
    claim_active: bool = False
    band: str = AgeBand.FRESH
    detail_url: str = ""


def backlog_page_values(orders: QuerySet[Order]) -> QuerySet:
    """The list's query: each order's row columns and its lines, in one round trip whatever the page size."""
    return orders.annotate(line_items=line_items_subquery()).values_list(*ROW_COLUMNS)


def rows_for_viewer(values, *, user, now: datetime, detail_base: str) -> list[BacklogRow]:
    """The rows of one page, from `backlog_page_values`, with what the viewer may do and how old each order is."""
    may_handle = may_handle_check(user)
    rows = []
    for columns in values:
        row = BacklogRow(*columns)
        row.line_items = [(sku, quantity) for _position, sku, quantity in sorted(row.line_items or [])]
        row.may_handle = may_handle(row)
        row.claim_active = claim_is_active(row, now)
        row.band = age_band(row.created_at, now)
        row.detail_url = f"{detail_base}{row.number}/"
        rows.append(row)
    return rows


def is_in_backlog(order: Order, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    if order.status in DECISION_STATUSES:
        return True
    return order.status in Order.MOVING_STATUSES and order.status_changed_at < stuck_cutoff(now)

