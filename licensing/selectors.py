"""Reads of the licensing app: seats derived from the ledger, and license validation."""

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.db import connection, models
from django.db.models import Count, IntegerField, OuterRef, Prefetch, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from licensing.calendars import Period, WorkCalendar, aware, calendar_of, is_inside_hours
from licensing.models import (
    JAPAN,
    ClosedPeriod,
    Customer,
    LicenseKey,
    OutsideHoursValidation,
    Product,
    SeatLedgerEntry,
    Subscription,
    WorkHoursPolicy,
    zone_or_japan,
)
from licensing.pricing import Tier
from orderdesk.db import prepared_cursor


@dataclass(frozen=True)
class PricedProduct:
    """What an order line needs of a product: what it freezes (name, unit, tax rate) and the tiers that price it."""

    id: int
    sku: str
    name_ja: str
    unit: str
    tax_rate: int
    tiers: tuple[Tier, ...]


# The columns of a priced product, one row per volume tier (a product without tiers: one row with NULL tier columns).
_PRICED_COLUMNS = "p.id, p.sku, p.name_ja, p.unit, p.tax_rate, t.min_quantity, t.unit_price"
_PRICED_FROM = "licensing_product p LEFT JOIN licensing_pricetier t ON t.product_id = p.id"

# The same rows as one JSON array, for a statement that reads the catalog along with other things
# (the order intake's, orders.api.intake_statements; PostgreSQL). Its SKUs are a text[] parameter.
PRICED_PRODUCTS_JSON_SUBQUERY = (
    f"SELECT json_agg(json_build_array({_PRICED_COLUMNS})) FROM {_PRICED_FROM} WHERE p.sku = ANY(%(skus)s::text[])"
)


def priced_products(skus: Iterable[str]) -> dict[str, PricedProduct]:
    """SKU → product with its volume tiers, in one statement (the order intake's read of the catalog).

    Inactive products are included: an order for one is accepted and held for
    review by the pipeline's rules. SKUs that do not exist are simply absent.
    Read from the database on every call, so a changed price or product
    applies to the very next order.
    """
    skus = list(skus)
    if not skus:
        return {}
    placeholders = ", ".join(["%s"] * len(skus))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {_PRICED_COLUMNS} FROM {_PRICED_FROM} WHERE p.sku IN ({placeholders})", skus)
        return priced_products_from_rows(cursor.fetchall())


def priced_products_from_rows(rows: Iterable[Sequence]) -> dict[str, PricedProduct]:
    """SKU → PricedProduct from rows of _PRICED_COLUMNS (or the arrays of PRICED_PRODUCTS_JSON_SUBQUERY)."""
    columns: dict[str, tuple] = {}
    tiers: dict[str, list[Tier]] = {}
    for product_id, sku, name_ja, unit, tax_rate, min_quantity, unit_price in rows:
        columns[sku] = (product_id, name_ja, unit, tax_rate)
        product_tiers = tiers.setdefault(sku, [])
        if min_quantity is not None:  # a product without tiers has one row of NULLs
            product_tiers.append(Tier(min_quantity=min_quantity, unit_price=unit_price))
    return {
        sku: PricedProduct(id=product_id, sku=sku, name_ja=name_ja, unit=unit, tax_rate=tax_rate, tiers=tuple(tiers[sku]))
        for sku, (product_id, name_ja, unit, tax_rate) in columns.items()
    }


def subscription_seats(*, subscription: Subscription) -> int:
    """Seats are never stored: they are the sum of the subscription's ledger."""
    return SeatLedgerEntry.objects.filter(subscription=subscription).aggregate(total=Sum("quantity"))["total"] or 0


def with_seats(subscriptions: QuerySet[Subscription]) -> QuerySet[Subscription]:
    """Annotate `seats` with a correlated subquery: one query, and no row multiplication if joins are added later."""
    ledger_sum = (
        SeatLedgerEntry.objects.filter(subscription=OuterRef("pk"))
        .order_by()
        .values("subscription")
        .annotate(total=Sum("quantity"))
        .values("total")
    )
    return subscriptions.annotate(seats=Coalesce(Subquery(ledger_sum, output_field=IntegerField()), Value(0)))


def customer_subscriptions(*, customer: Customer) -> QuerySet[Subscription]:
    """The customer's subscriptions by SKU, with `seats` and `active_keys` (unrevoked keys, prefetched)."""
    active_keys = Prefetch(
        "license_keys", queryset=LicenseKey.objects.filter(revoked_at__isnull=True).order_by("issued_at", "id"), to_attr="active_keys"
    )
    subscriptions = Subscription.objects.filter(customer=customer).select_related("product").prefetch_related(active_keys)
    return with_seats(subscriptions).order_by("product__sku")


def seats_by_product(*, customer: Customer) -> dict[int, int]:
    """product id → current seats of the customer, in one grouped query."""
    return seats_by_product_for_customers(customer_ids=[customer.pk]).get(customer.pk, {})


def seats_by_product_for_customers(*, customer_ids: Iterable[int]) -> dict[int, dict[int, int]]:
    """customer id → (product id → current seats), for many customers in one grouped query."""
    rows = (
        SeatLedgerEntry.objects.filter(subscription__customer_id__in=list(customer_ids))
        .order_by()
        .values_list("subscription__customer_id", "subscription__product_id")
        .annotate(total=Sum("quantity"))
    )
    seats: dict[int, dict[int, int]] = {}
    for customer_id, product_id, total in rows:
        seats.setdefault(customer_id, {})[product_id] = total
    return seats


def addon_seat_excess(
    *,
    customer: Customer,
    additions: dict[str, int],
    products: Iterable[Product] | None = None,
    current: dict[int, int] | None = None,
) -> list[str]:
    """SKUs of add-ons in `additions` whose seats would exceed their base product's seats once
    `additions` (sku → seats to add) were provisioned, counting base seats added by the same order.

    Only add-ons the order adds to are checked: an order that adds base seats
    alone can only reduce an excess. Unknown SKUs are left to the unknown-SKU
    rule, and an add-on without a configured base has nothing to exceed. Two
    queries; one when the caller passes the `products` of `additions` already
    loaded with their base_product (select_related), none when it also passes
    the customer's `current` seats by product id (seats_by_product).
    """
    if products is None:
        products = Product.objects.filter(sku__in=additions).select_related("base_product")
    addons = {
        product.sku: product
        for product in products
        if product.sku in additions and product.kind == Product.Kind.ADDON and product.base_product_id is not None
    }
    if current is None:
        current = seats_by_product(customer=customer)
    excess = []
    for addon in addons.values():
        addon_seats = current.get(addon.pk, 0) + additions[addon.sku]
        base_seats = current.get(addon.base_product_id, 0) + additions.get(addon.base_product.sku, 0)
        if addon_seats > base_seats:
            excess.append(addon.sku)
    return sorted(excess)


@dataclass(frozen=True)
class LicenseDecision:
    valid: bool
    code: str
    mode: str | None = None  # the work-hours mode, only with OUTSIDE_WORKING_HOURS


class DecisionCode:
    VALID = "VALID"
    OUTSIDE_WORKING_HOURS = "OUTSIDE_WORKING_HOURS"
    EXPIRED = "EXPIRED"
    SUSPENDED = "SUSPENDED"
    SEAT_LIMIT = "SEAT_LIMIT"
    UNKNOWN_KEY = "UNKNOWN_KEY"

    ALL = (VALID, OUTSIDE_WORKING_HOURS, EXPIRED, SUSPENDED, SEAT_LIMIT, UNKNOWN_KEY)


def normalize_license_key(key: str) -> str:
    """People paste keys with spaces or in lower case; the stored form is upper case."""
    return key.strip().upper()


@dataclass(frozen=True)
class KeyFacts:
    """What deciding about one key needs, read in one statement (_KEY_FACTS_SQL)."""

    license_key_id: int
    revoked: bool
    customer_id: int
    subscription_status: str
    term_end: date
    is_addon_with_base: bool
    seats: int
    base_seats: int
    calendar: WorkCalendar | None  # the customer's active work-hours policy, if any
    mode: str | None  # that policy's mode
    closed_periods: tuple[Period, ...]  # the customer's, when it has an active policy


@dataclass(frozen=True)
class KeyCheck:
    """A decision with what the work-hours record needs to know about it."""

    decision: LicenseDecision
    at: datetime  # the moment judged
    facts: KeyFacts | None = None  # None for an unknown key


def license_validate(*, customer: Customer | None, key: str, at: datetime | None = None) -> LicenseDecision:
    """May the license `key` be started at `at` (default now)? See license_key_check."""
    return license_key_check(customer=customer, key=key, at=at).decision


def license_key_check(*, customer: Customer | None, key: str, at: datetime | None = None) -> KeyCheck:
    """May the license `key` be started at `at` (default now)?

    `customer`: the purchasing token's customer, whose keys alone are known to
    it; None for a device, which holds nothing but the key.

    Checked in this order, the first failing check answers:
      1. UNKNOWN_KEY — no such key (of this customer). Another customer's key
         answers the same, so keys of others are never confirmed to exist.
      2. SUSPENDED — the key is revoked or the subscription suspended (a staff
         decision outranks everything the calendar says).
      3. EXPIRED — `at`, as a date in Japan, is after the term's last day.
      4. SEAT_LIMIT — the subscription has no seats (ledger sum ≤ 0), or it is
         an add-on with more seats than the customer's base subscription.
      5. OUTSIDE_WORKING_HOURS — an active work-hours policy and `at` outside
         it (licensing.calendars); mode "warn" is still valid, "block" not.
         Last, because it is the only check that may still allow use.
      6. VALID.

    One statement reads the key, its subscription, product, customer, policy,
    closed periods and both seat sums. Devices validate at every start of the
    application, so it is plain SQL (prepared once per connection on
    PostgreSQL): through the ORM, compiling it cost more than running it.
    """
    at = aware(at or timezone.now())
    facts = key_facts(key=normalize_license_key(key), customer_id=customer.pk if customer is not None else None)
    if facts is None:
        return KeyCheck(LicenseDecision(valid=False, code=DecisionCode.UNKNOWN_KEY), at)
    return KeyCheck(_decide(facts, at), at, facts)


def _decide(facts: KeyFacts, at: datetime) -> LicenseDecision:
    if facts.revoked or facts.subscription_status == Subscription.Status.SUSPENDED:
        return LicenseDecision(valid=False, code=DecisionCode.SUSPENDED)
    if at.astimezone(JAPAN).date() > facts.term_end:
        return LicenseDecision(valid=False, code=DecisionCode.EXPIRED)
    if facts.seats <= 0 or (facts.is_addon_with_base and facts.seats > facts.base_seats):
        return LicenseDecision(valid=False, code=DecisionCode.SEAT_LIMIT)
    if facts.calendar is not None and not is_inside_hours(facts.calendar, at, lambda: facts.closed_periods):
        return LicenseDecision(
            valid=facts.mode == WorkHoursPolicy.Mode.WARN, code=DecisionCode.OUTSIDE_WORKING_HOURS, mode=facts.mode
        )
    return LicenseDecision(valid=True, code=DecisionCode.VALID)


_KEY_FACTS_SQL = """
SELECT k.id, k.revoked_at IS NOT NULL, s.customer_id, s.status, s.term_end,
       p.kind = 'addon' AND p.base_product_id IS NOT NULL,
       COALESCE((SELECT SUM(e.quantity) FROM licensing_seatledgerentry e WHERE e.subscription_id = s.id), 0),
       COALESCE((SELECT SUM(e.quantity) FROM licensing_seatledgerentry e
                 JOIN licensing_subscription b ON b.id = e.subscription_id
                 WHERE b.customer_id = s.customer_id AND b.product_id = p.base_product_id), 0),
       c.time_zone, w.id, w.mode, w.time_zone, w.working_days, w.start_time, w.end_time, w.public_holidays,
       (SELECT {closed_periods} FROM licensing_closedperiod cp WHERE cp.customer_id = s.customer_id AND w.id IS NOT NULL)
FROM licensing_licensekey k
JOIN licensing_subscription s ON s.id = k.subscription_id
JOIN licensing_product p ON p.id = s.product_id
JOIN licensing_customer c ON c.id = s.customer_id
LEFT JOIN licensing_workhourspolicy w ON w.customer_id = s.customer_id AND w.is_active
WHERE k.key = %s
"""
# The customer's closed periods as one text, "first last every_year" per period, comma-separated.
_CLOSED_PERIODS_AGGREGATE = {
    "postgresql": "string_agg(cp.first_day::text || ' ' || cp.last_day::text || ' ' || cp.every_year::text, ',')",
    "sqlite": "group_concat(cp.first_day || ' ' || cp.last_day || ' ' || cp.every_year, ',')",
}


def key_facts(*, key: str, customer_id: int | None) -> KeyFacts | None:
    """The facts of the license key `key` (normalised), of that customer if one is given; None if there is none."""
    sql = _KEY_FACTS_SQL.format(closed_periods=_CLOSED_PERIODS_AGGREGATE[connection.vendor])
    params = [key]
    if customer_id is not None:
        sql, params = sql + "AND s.customer_id = %s\n", [key, customer_id]
    with _lean_cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    (key_id, revoked, customer_id, status, term_end, addon_with_base, seats, base_seats, customer_zone,
     policy_id, mode, policy_zone, working_days, start, end, holidays_country, closed_periods) = row  # fmt: skip
    calendar = None
    if policy_id is not None:
        calendar = WorkCalendar(
            zone=zone_or_japan(policy_zone or customer_zone),
            working_days=frozenset(json.loads(working_days) if isinstance(working_days, str) else working_days),
            start=_as_time(start),
            end=_as_time(end),
            holiday_country=holidays_country,
        )
    return KeyFacts(
        closed_periods=_periods_from_text(closed_periods),
        license_key_id=key_id,
        revoked=bool(revoked),
        customer_id=customer_id,
        subscription_status=status,
        term_end=_as_date(term_end),
        is_addon_with_base=bool(addon_with_base),
        seats=seats,
        base_seats=base_seats,
        calendar=calendar,
        mode=mode,
    )


def closed_periods_of(customer_id: int) -> list[Period]:
    rows = ClosedPeriod.objects.filter(customer_id=customer_id).order_by().values_list("first_day", "last_day", "every_year")
    return [Period(*row) for row in rows]


def _periods_from_text(text: str | None) -> tuple[Period, ...]:
    if not text:
        return ()
    periods = []
    for period in text.split(","):
        first, last, every_year = period.split(" ")
        periods.append(Period(date.fromisoformat(first), date.fromisoformat(last), every_year in ("true", "1")))
    return tuple(periods)


def _lean_cursor():
    """PostgreSQL: a cursor whose statements are prepared once per connection (orderdesk.db); else Django's."""
    return prepared_cursor() if connection.vendor == "postgresql" else connection.cursor()


# SQLite hands dates and times back as text; PostgreSQL as date and time objects.
def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _as_time(value) -> time:
    return value if isinstance(value, time) else time.fromisoformat(value)


def work_hours_contain(*, policy: WorkHoursPolicy, at: datetime) -> bool:
    """Is `at` inside the policy's working hours (licensing.calendars)?"""
    return is_inside_hours(calendar_of(policy), at, lambda: closed_periods_of(policy.customer_id))


def subscription_history(*, subscription: Subscription) -> list[SeatLedgerEntry]:
    """The ledger oldest first, each entry with `seats_after`: the running balance after it."""
    entries = list(SeatLedgerEntry.objects.filter(subscription=subscription).order_by("created_at", "id"))
    balance = 0
    for entry in entries:
        balance += entry.quantity
        entry.seats_after = balance
    return entries


# --- The work-hours record (licensing.validation writes it) -------------------------------

OUTSIDE_HOURS_COLUMNS = ("at", "local_time", "time_zone", "key", "sku", "mode", "allowed")


def customer_work_hours_zone(*, customer: Customer) -> ZoneInfo:
    """The zone the customer's working hours are judged in: the policy's, else the customer's."""
    policy = WorkHoursPolicy.objects.filter(customer=customer).first()
    return policy.zone if policy is not None else zone_or_japan(customer.time_zone)


def month_bounds(*, year: int, month: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The first moment of the month and of the next one, in `zone`."""
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    return start, end


def outside_hours_rows(*, customer: Customer, year: int, month: int) -> Iterator[tuple]:
    """The customer's outside-hours validations of one month (in its work-hours zone), oldest first, as CSV rows."""
    start, end = month_bounds(year=year, month=month, zone=customer_work_hours_zone(customer=customer))
    rows = (
        OutsideHoursValidation.objects.filter(customer=customer, at__gte=start, at__lt=end)
        .order_by("at", "id")
        .values_list("at", "time_zone", "license_key__key", "license_key__subscription__product__sku", "mode", "allowed")
    )
    for at, zone_name, key, sku, mode, allowed in rows.iterator(chunk_size=2000):
        local = at.astimezone(zone_or_japan(zone_name))
        yield (local.isoformat(), local.strftime("%Y-%m-%d %H:%M:%S"), zone_name, key, sku, mode, "true" if allowed else "false")


def outside_hours_counts(*, customer_ids: Iterable[int], since: datetime) -> dict[int, int]:
    """customer id → outside-hours validations since `since`, in one grouped query."""
    rows = (
        OutsideHoursValidation.objects.filter(customer_id__in=list(customer_ids), at__gte=since)
        .order_by()
        .values_list("customer_id")
        .annotate(total=Count("id"))
    )
    return dict(rows)


def customer_ledgers(*, customer: Customer) -> dict[int, list[SeatLedgerEntry]]:
    """subscription id → its ledger oldest first, each entry with `seats_after`, for all the customer's subscriptions in one query."""
    ledgers: dict[int, list[SeatLedgerEntry]] = {}
    entries = SeatLedgerEntry.objects.filter(subscription__customer=customer).order_by("subscription_id", "created_at", "id")
    for entry in entries:
        ledger = ledgers.setdefault(entry.subscription_id, [])
        entry.seats_after = (ledger[-1].seats_after if ledger else 0) + entry.quantity
        ledger.append(entry)
    return ledgers


def customer_search(*, query: str) -> QuerySet[Customer]:
    """Customers whose code or name contains `query` (all without one), by code."""
    customers = Customer.objects.order_by("code")
    query = query.strip()
    if query:
        customers = customers.filter(models.Q(code__icontains=query) | models.Q(name__icontains=query))
    return customers
