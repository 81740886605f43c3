"""Reads of the licensing app: seats derived from the ledger, and license validation."""

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import connection, models
from django.db.models import Count, IntegerField, OuterRef, Prefetch, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from licensing.calendars import Period, aware, calendar_of, is_inside_hours
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
class KeyCheck:
    """A decision with what the work-hours record needs to know about it."""

    decision: LicenseDecision
    at: datetime  # the moment judged
    license_key: LicenseKey | None = None
    policy: WorkHoursPolicy | None = None  # the active policy, if the customer has one


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

    One query reads the key, its subscription, product, customer, policy and
    both seat sums; a second reads the customer's closed periods, only when
    the answer depends on them.
    """
    at = aware(at or timezone.now())
    license_key = _key_with_everything(key=key, customer=customer)
    if license_key is None:
        return KeyCheck(LicenseDecision(valid=False, code=DecisionCode.UNKNOWN_KEY), at)
    subscription = license_key.subscription
    policy = _active_policy(subscription.customer)
    decision = _decide(license_key, policy, at)
    return KeyCheck(decision, at, license_key, policy)


def _decide(license_key: LicenseKey, policy: WorkHoursPolicy | None, at: datetime) -> LicenseDecision:
    subscription = license_key.subscription
    if license_key.is_revoked or subscription.status == Subscription.Status.SUSPENDED:
        return LicenseDecision(valid=False, code=DecisionCode.SUSPENDED)
    if at.astimezone(JAPAN).date() > subscription.term_end:
        return LicenseDecision(valid=False, code=DecisionCode.EXPIRED)
    if not _has_seats(license_key):
        return LicenseDecision(valid=False, code=DecisionCode.SEAT_LIMIT)
    if policy is not None and not work_hours_contain(policy=policy, at=at):
        return LicenseDecision(
            valid=policy.mode == WorkHoursPolicy.Mode.WARN, code=DecisionCode.OUTSIDE_WORKING_HOURS, mode=policy.mode
        )
    return LicenseDecision(valid=True, code=DecisionCode.VALID)


def _key_with_everything(*, key: str, customer: Customer | None) -> LicenseKey | None:
    """The key with subscription, product, customer and policy joined, and `seats` and `base_seats` annotated."""
    seats = (
        SeatLedgerEntry.objects.filter(subscription=OuterRef("subscription"))
        .order_by()
        .values("subscription")
        .annotate(total=Sum("quantity"))
        .values("total")
    )
    base_seats = (
        SeatLedgerEntry.objects.filter(
            subscription__customer=OuterRef("subscription__customer"),
            subscription__product=OuterRef("subscription__product__base_product"),
        )
        .order_by()
        .values("subscription__customer")
        .annotate(total=Sum("quantity"))
        .values("total")
    )
    keys = LicenseKey.objects.filter(key=normalize_license_key(key))
    if customer is not None:
        keys = keys.filter(subscription__customer=customer)
    return (
        keys.select_related("subscription__product", "subscription__customer__work_hours_policy")
        .annotate(
            seats=Coalesce(Subquery(seats, output_field=IntegerField()), Value(0)),
            base_seats=Coalesce(Subquery(base_seats, output_field=IntegerField()), Value(0)),
        )
        .first()
    )


def _active_policy(customer: Customer) -> WorkHoursPolicy | None:
    try:
        policy = customer.work_hours_policy
    except WorkHoursPolicy.DoesNotExist:
        return None
    return policy if policy.is_active else None


def work_hours_contain(*, policy: WorkHoursPolicy, at: datetime) -> bool:
    """Is `at` inside the policy's working hours (licensing.calendars)? Reads closed periods only when they matter."""

    def closed_periods() -> list[Period]:
        rows = ClosedPeriod.objects.filter(customer_id=policy.customer_id).values_list("first_day", "last_day", "every_year")
        return [Period(*row) for row in rows]

    return is_inside_hours(calendar_of(policy), at, closed_periods)


def _has_seats(license_key: LicenseKey) -> bool:
    if license_key.seats <= 0:
        return False
    product = license_key.subscription.product
    if product.kind != Product.Kind.ADDON or product.base_product_id is None:
        return True
    return license_key.seats <= license_key.base_seats


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
