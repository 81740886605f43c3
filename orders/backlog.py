"""Reads for the shared backlog: which orders need a person, their counts, their age.

An order needs a person when it is `needs_review` (a rule held it), `failed`
(a technical error outlived the retries), or stuck in a moving state longer
than the sweeper's threshold (ORDER_STUCK_AFTER_SECONDS). Every list and count
on the backlog pages starts from `backlog_orders`.
"""

import functools
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from urllib.parse import quote

from django.conf import settings
from django.core.cache import cache
from django.db.models import Aggregate, Case, Count, JSONField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import JSONArray
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.translation import gettext as _

from orders import display
from orders.models import REASONS_APPROVED_WITHOUT_OVERRIDE, BacklogPreference, Order, OrderLine, ReviewReason
from orders.permissions import HELPER_REASONS, may_handle_check, with_reasons_text

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
class CountGroup:
    """Backlog orders alike in everything the counts at the top of the page tell apart, and how many."""

    status: str
    reasons: frozenset[str]
    stuck: bool
    claimed: bool  # someone's claim is active
    band: str
    orders: int
    mine: bool = False  # the viewer's active claim


@dataclass(frozen=True)
class BacklogFacts:
    """Every order a list may show, grouped: `groups` (all of them) and `mine` (the viewer's claims among them)."""

    groups: list[CountGroup]
    mine: list[CountGroup]


# A chip at the top of the page narrows the list by one value of one of these;
# each dimension's test of a group, for a value.
CHIP_TESTS = {
    "state": lambda value: {
        "needs_review": lambda group: group.status == Order.Status.NEEDS_REVIEW,
        "failed": lambda group: group.status == Order.Status.FAILED,
        "stuck": lambda group: group.stuck,
    }[value],
    "reason": lambda value: lambda group: value in group.reasons,
    "age": lambda value: lambda group: group.band == value,
    "claim": lambda value: lambda group: not group.claimed,  # "mine" picks BacklogFacts.mine instead
}
CHIP_DIMENSIONS = tuple(CHIP_TESTS)
AGE_BANDS = (AgeBand.FRESH, AgeBand.AGEING, AgeBand.OVERDUE)


def group_is_for_helpers(group: CountGroup) -> bool:
    """orders.permissions.order_is_for_helpers, for a group of orders."""
    return group.status == Order.Status.NEEDS_REVIEW and bool(group.reasons) and group.reasons <= HELPER_REASONS


@dataclass(frozen=True)
class BacklogCounts:
    """The numbers at the top of the backlog, following the active filters.

    `total` is the list itself (every filter applied). Each chip counts the
    orders its value would show with the other filters kept: with a customer
    and "overdue" chosen, the reason chips count that customer's overdue
    orders per reason, and the age chips that customer's orders per age band.
    """

    total: int
    needs_review: int
    failed: int
    stuck: int
    unclaimed: int
    mine: int
    by_reason: dict[str, int]
    by_age: dict[str, int]
    needs_override: int  # orders in the list that approving would override a rule for


def counts_from_facts(facts: BacklogFacts, *, chips: dict[str, str], helpers_only: bool = False) -> BacklogCounts:
    """The counts for a list narrowed by `chips` ({dimension: value}), from the grouped facts alone. One pass.

    A group counts towards a chip of one dimension when it passes every other
    active chip; towards the list's total when it passes them all. "Claimed by
    me" is counted from the viewer's own groups, and with that chip active the
    other chips count the viewer's orders only.
    """
    tests = {name: CHIP_TESTS[name](value) for name, value in chips.items() if (name, value) != ("claim", "mine")}
    mine_only = chips.get("claim") == "mine"
    by_state = {"needs_review": 0, "failed": 0, "stuck": 0}
    by_reason = dict.fromkeys(ReviewReason.values, 0)
    by_age = dict.fromkeys(AGE_BANDS, 0)
    total = mine = needs_override = 0
    state_tests = {state: CHIP_TESTS["state"](state) for state in by_state}
    # The whole backlog's groups, then the viewer's own claims among them (facts.mine). An own
    # claim passes "claimed by me"; the others fail it. Without that chip, the own claims are
    # already among the whole backlog's groups and only make the "claimed by me" count.
    for group, is_mine in [*((group, False) for group in facts.groups), *((group, True) for group in facts.mine)]:
        if helpers_only and not group_is_for_helpers(group):
            continue
        failing = [name for name, test in tests.items() if not test(group)]
        if mine_only and not is_mine:
            failing.append("claim")
        if len(failing) > 1:
            continue

        def counts_for(dimension: str) -> bool:
            return not failing or failing == [dimension]

        if is_mine and counts_for("claim"):
            mine += group.orders
        if is_mine != mine_only:
            continue
        if counts_for("state"):
            for state, test in state_tests.items():
                by_state[state] += group.orders if test(group) else 0
        if counts_for("reason"):
            for code in group.reasons:
                by_reason[code] = by_reason.get(code, 0) + group.orders
        if counts_for("age"):
            by_age[group.band] += group.orders
        if not failing:
            total += group.orders
            if group.status == Order.Status.NEEDS_REVIEW and group.reasons - REASONS_APPROVED_WITHOUT_OVERRIDE:
                needs_override += group.orders
    if mine_only:  # the "unclaimed" chip would replace "claimed by me": count it over the whole backlog
        unclaimed = counts_from_facts(facts, chips={**chips, "claim": "unclaimed"}, helpers_only=helpers_only).total
    else:
        unclaimed = sum(
            group.orders
            for group in facts.groups
            if not group.claimed and (not helpers_only or group_is_for_helpers(group)) and all(test(group) for name, test in tests.items() if name != "claim")
        )
    return BacklogCounts(
        total=total,
        needs_review=by_state["needs_review"],
        failed=by_state["failed"],
        stuck=by_state["stuck"],
        unclaimed=unclaimed,
        mine=mine,
        by_reason=by_reason,
        by_age=by_age,
        needs_override=needs_override,
    )


GROUPS_CACHE_KEY = "backlog:groups"


def mine_cache_key(user) -> str:
    return f"{GROUPS_CACHE_KEY}:mine:{user.pk}"


def backlog_facts(*, user, now: datetime | None = None, narrowed: QuerySet | None = None, exact_mine: bool = False) -> BacklogFacts:
    """The grouped backlog the counts are made from, for this user.

    The whole backlog's groups are shared by everyone and each person's claims
    are their own; both are cached for BACKLOG_COUNTS_CACHE_SECONDS and come
    from the cache in one round trip. In a surge dozens of people keep the page
    open and it refreshes itself: the groups are computed at most once per that
    time for all of them, and any combination of chips (reason, state, age,
    claim) is counted from them in Python, so a refresh usually asks the
    database for the list alone. `forget_backlog_counts` drops them after a
    staff action, so the person who acted sees the new numbers at once.

    `narrowed`: the backlog already narrowed by a search or a customer, grouped
    on the spot (with the viewer's claims marked), not cached.
    `exact_mine`: the list shows the user's own claims: count them now, so that
    a claim made elsewhere in the last seconds is not left off its pages.
    """
    now = now or timezone.now()
    if narrowed is not None:
        groups = grouped_backlog(narrowed, now=now, viewer=user)
        return BacklogFacts(groups=groups, mine=[group for group in groups if group.mine])
    seconds = settings.BACKLOG_COUNTS_CACHE_SECONDS
    keys = {"shared": GROUPS_CACHE_KEY, "mine": mine_cache_key(user)}
    cached = cache.get_many(keys.values()) if seconds else {}
    shared, mine = cached.get(keys["shared"]), None if exact_mine else cached.get(keys["mine"])
    counted = {}
    if shared is None:
        shared = counted[keys["shared"]] = grouped_backlog(backlog_orders(now=now), now=now)
    if mine is None:
        mine_orders = backlog_orders(now=now).filter(active_claim_q(now), claimed_by=user)
        mine = counted[keys["mine"]] = [replace(group, mine=True) for group in grouped_backlog(mine_orders, now=now)]
    if counted and seconds:
        cache.set_many(counted, seconds)
    return BacklogFacts(groups=shared, mine=mine)


def backlog_counts(*, user, now: datetime | None = None) -> BacklogCounts:
    """The whole backlog's counts as `user` sees the page with no filter (the control room's cards)."""
    return counts_from_facts(backlog_facts(user=user, now=now), chips={})


def shared_backlog_counts(*, now: datetime) -> BacklogCounts:
    """The whole backlog's counts for no one in particular, counted now (the control room's rollups)."""
    return counts_from_facts(BacklogFacts(groups=grouped_backlog(backlog_orders(now=now), now=now), mine=[]), chips={})


def forget_backlog_counts(*, user) -> None:
    """After `user` acted: the shared groups and the user's own claims are counted again on the next page."""
    cache.delete_many([GROUPS_CACHE_KEY, mine_cache_key(user)])


def grouped_backlog(orders: QuerySet[Order], *, now: datetime, viewer=None) -> list[CountGroup]:
    """The orders grouped by what the counts tell apart (status, reasons, stuck, claim, age band). One query.

    The database groups however many orders wait into a few dozen groups in
    one pass; Python then adds up whatever the page asks for. With a `viewer`
    the groups also tell the viewer's own claims apart.
    """
    bands = age_band_ranges(now)
    annotations = {
        "is_stuck": Case(When(stuck_q(now), then=Value(True)), default=Value(False)),
        "claimed": Case(When(active_claim_q(now), then=Value(True)), default=Value(False)),
        "band": Case(
            When(bands[AgeBand.FRESH], then=Value(AgeBand.FRESH)),
            When(bands[AgeBand.AGEING], then=Value(AgeBand.AGEING)),
            default=Value(AgeBand.OVERDUE),
        ),
    }
    if viewer is not None:
        annotations["mine"] = Case(When(active_claim_q(now) & Q(claimed_by=viewer), then=Value(True)), default=Value(False))
    columns = ["status", "review_reasons", "is_stuck", "claimed", "band", *(["mine"] if viewer is not None else [])]
    rows = orders.annotate(**annotations).order_by().values(*columns).annotate(orders=Count("pk"))
    return [
        CountGroup(
            status=row["status"],
            reasons=frozenset(row["review_reasons"] or []),
            stuck=row["is_stuck"],
            claimed=row["claimed"],
            band=row["band"],
            orders=row["orders"],
            mine=row.get("mine", False),
        )
        for row in rows
    ]


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
    The fields after `line_items` are worked out by `rows_for_viewer`: what the
    viewer may do, and every text the row shows, as plain strings the template
    prints (and escapes) as they are.
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
    held_by_other: bool = False
    locked_because: str = ""  # why the viewer may not select it; empty when they may
    needs_override: bool = False  # approving it overrides a rule, so needs a reason
    band: str = AgeBand.FRESH
    row_class: str = ""  # its age band, and "locked" when the viewer may not select it
    detail_url: str = ""
    customer_title: str = ""  # "name (code)", for the cell's tooltip when the name is cut short
    customer_query: str = ""
    state_label: str = ""  # "Failed", "Stuck: provisioning"; nothing while it waits for review
    state_class: str = ""
    reason_labels: list[str] = field(default_factory=list)
    why_text: str = ""  # the reasons (or the failure) in one line, for the cell's tooltip when it is cut short
    failure: str = ""
    lines_text: str = ""
    total_text: str = ""
    age_text: str = ""
    received_text: str = ""
    claimer: str = ""

    def __getitem__(self, name: str):
        # A template looks `row.name` up as row["name"] first: answering it spares
        # the failed key lookup and its exception for each of the page's ~1,000 cells.
        return getattr(self, name)


def backlog_page_values(orders: QuerySet[Order]) -> QuerySet:
    """The list's query: each order's row columns and its lines, in one round trip whatever the page size."""
    return orders.annotate(line_items=line_items_subquery()).values_list(*ROW_COLUMNS)


class _RowTexts:
    """What the rows of one page share, worked out once: translated labels, the time, ages per minute."""

    def __init__(self, *, now: datetime):
        self.now = now
        self.reasons = {code: str(label) for code, label in display.REASON_LABELS.items()}
        self.failed = display.status_label(Order.Status.FAILED)
        self.stuck = {status: _("Stuck: %(status)s") % {"status": display.status_label(status)} for status in Order.MOVING_STATUSES}
        self.not_for_role = _("Only the order desk or a manager may handle this order.")
        self.me = _("me")
        self.separator = display.list_separator()
        self._ages: dict[int, str] = {}
        self._days: dict = {}
        self.tz = timezone.get_current_timezone()

    def age(self, created_at: datetime) -> str:
        """The age badge's text; rows of the same minute share it (translating it is the costly part)."""
        minutes = int((self.now - created_at).total_seconds() // 60)
        if minutes not in self._ages:
            self._ages[minutes] = display.age(created_at, self.now)
        return self._ages[minutes]

    def received(self, created_at: datetime) -> str:
        """When the order came in: display.when, with the day formatted once per page (formatting is the costly part)."""
        local = timezone.localtime(created_at, self.tz)
        day = local.date()
        if day not in self._days:
            self._days[day] = display.day(day)
        return display.with_time(self._days[day], local)


def rows_for_viewer(values, *, user, now: datetime, detail_base: str) -> list[BacklogRow]:
    """The rows of one page, from `backlog_page_values`, with what the viewer may do and how each is shown."""
    may_handle = may_handle_check(user)
    texts = _RowTexts(now=now)
    claims_from = claim_cutoff(now)
    rows = []
    for columns in values:
        row = BacklogRow(*columns)
        row.line_items = [(sku, quantity) for _position, sku, quantity in sorted(row.line_items or [])]
        row.may_handle = may_handle(row)
        row.claim_active = row.claimed_by_id is not None and row.claimed_at is not None and row.claimed_at >= claims_from
        row.held_by_other = row.claim_active and row.claimed_by_id != user.pk
        if not row.may_handle:
            row.locked_because = texts.not_for_role
        elif row.held_by_other:
            row.locked_because = _("%(user)s is working on this order.") % {"user": row.claimed_by_username}
        row.needs_override = row.status == Order.Status.NEEDS_REVIEW and bool(set(row.review_reasons or []) - REASONS_APPROVED_WITHOUT_OVERRIDE)
        row.band = age_band(row.created_at, now)
        row.row_class = f"{row.band} locked" if row.locked_because else row.band
        row.detail_url = f"{detail_base}{row.number}/"
        _describe(row, texts)
        rows.append(row)
    return rows


def _describe(row: BacklogRow, texts: _RowTexts) -> None:
    """The row's texts, in the reader's language."""
    if row.status == Order.Status.FAILED:
        row.state_label, row.state_class = texts.failed, "bad"
        row.failure = Truncator(display.event_reason(row.status_reason)).chars(60)
    elif row.status != Order.Status.NEEDS_REVIEW:
        row.state_label, row.state_class = texts.stuck.get(row.status, row.status), "warn"
    row.reason_labels = [texts.reasons.get(code, code) for code in row.review_reasons or []]
    row.why_text = texts.separator.join(row.reason_labels) or row.failure
    row.customer_title = f"{row.customer_name} ({row.customer_code})"
    row.customer_query = quote(row.customer_code)
    row.lines_text = ", ".join(f"{sku} × {quantity:,}" for sku, quantity in row.line_items)
    row.total_text = display.yen(row.total)
    row.age_text = texts.age(row.created_at)
    row.received_text = texts.received(row.created_at)
    if row.claim_active:
        row.claimer = texts.me if row.claimed_by_id and not row.held_by_other else row.claimed_by_username


def is_in_backlog(order: Order, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    if order.status in DECISION_STATUSES:
        return True
    return order.status in Order.MOVING_STATUSES and order.status_changed_at < stuck_cutoff(now)


def backlog_density_of(user) -> str:
    """The row density the user chose (dense unless they asked for comfortable rows)."""
    chosen = BacklogPreference.objects.filter(user=user).values_list("density", flat=True).first()
    return chosen or BacklogPreference.Density.DENSE
