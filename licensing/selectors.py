"""Reads of the licensing app: seats derived from the ledger, and license validation."""

import functools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from licensing.calendars import Period, WorkCalendar, aware, is_inside_hours
from licensing.models import (
    JAPAN,
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
from orderdesk.db import fetch_all, fetch_one


@dataclass(frozen=True)
class PricedProduct:
    """What an order line needs of a product: what it freezes (name, unit, tax rate) and the tiers that price it."""

    id: int
    sku: str
    name_ja: str
    unit: str
    tax_rate: int
    tiers: tuple[Tier, ...]
    term_months: int = 12
    # The asking customer's subscription to the product, if it has one: the last day of its term
    # (seats added to it end with it and are priced for the months left: licensing.pricing.coterm).
    term_end: date | None = None


def priced_products(skus: Iterable[str], *, customer_id: int | None = None) -> dict[str, PricedProduct]:
    """SKU → product with its volume tiers, in one statement (the order intake's read of the catalog).

    With `customer_id`, the same statement reads the term end of that
    customer's subscription to each product (co-terming). Inactive products
    are included: an order for one is accepted and held for review by the
    pipeline's rules. SKUs that do not exist are simply absent. Read from the
    database on every call, so a changed price or product applies to the very
    next order.
    """
    skus = sorted(set(skus))
    if not skus:
        return {}
    return _priced_products_from_rows(fetch_all(_priced_products_sql(len(skus)), [customer_id or 0, *skus]))


def priced_products_by_customer(skus_by_customer: Mapping[int, Iterable[str]]) -> dict[int, dict[str, PricedProduct]]:
    """Customer id → priced_products(its SKUs, customer_id=it), for several customers in two reads
    (a spreadsheet import's batch: the catalog once for all their SKUs, then their subscriptions'
    term ends), not one read per customer."""
    catalog = priced_products({sku for skus in skus_by_customer.values() for sku in skus})
    term_ends = dict(
        ((customer_id, product_id), term_end)
        for customer_id, product_id, term_end in Subscription.objects.filter(
            customer_id__in=list(skus_by_customer), product_id__in=[product.id for product in catalog.values()]
        ).values_list("customer_id", "product_id", "term_end")
    ) if catalog else {}  # fmt: skip
    return {
        customer_id: {
            sku: replace(catalog[sku], term_end=term_ends.get((customer_id, catalog[sku].id))) for sku in set(skus) if sku in catalog
        }
        for customer_id, skus in skus_by_customer.items()
    }


@functools.cache
def _priced_products_sql(sku_count: int) -> str:
    # One row per volume tier (a product without tiers: one row with NULL tier columns).
    return (
        "SELECT p.id, p.sku, p.name_ja, p.unit, p.tax_rate, t.min_quantity, t.unit_price, p.term_months, s.term_end"
        " FROM licensing_product p LEFT JOIN licensing_pricetier t ON t.product_id = p.id"
        " LEFT JOIN licensing_subscription s ON s.product_id = p.id AND s.customer_id = %s"
        f" WHERE p.sku IN ({', '.join(['%s'] * sku_count)})"
    )


def _priced_products_from_rows(rows: Iterable[Sequence]) -> dict[str, PricedProduct]:
    columns: dict[str, tuple] = {}
    tiers: dict[str, list[Tier]] = {}
    for product_id, sku, name_ja, unit, tax_rate, min_quantity, unit_price, term_months, term_end in rows:
        columns[sku] = (product_id, name_ja, unit, tax_rate, term_months, None if term_end is None else _as_date(term_end))
        product_tiers = tiers.setdefault(sku, [])
        if min_quantity is not None:  # a product without tiers has one row of NULLs
            product_tiers.append(Tier(min_quantity=min_quantity, unit_price=unit_price))
    return {
        sku: PricedProduct(
            id=product_id,
            sku=sku,
            name_ja=name_ja,
            unit=unit,
            tax_rate=tax_rate,
            tiers=tuple(tiers[sku]),
            term_months=term_months,
            term_end=term_end,
        )
        for sku, (product_id, name_ja, unit, tax_rate, term_months, term_end) in columns.items()
    }


def orderable_skus() -> list[str]:
    """The SKUs an order may name: every product with a price (inactive ones too: such an order is held for review)."""
    return sorted(Product.objects.filter(price_tiers__isnull=False).values_list("sku", flat=True).distinct())


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


def customer_subscriptions(*, customer: Customer, keys_limit: int | None = None) -> QuerySet[Subscription]:
    """The customer's subscriptions ordered by `sku`, each with `seats`, `keys_count` (its unrevoked keys)
    and `active_keys`: those keys oldest first, prefetched, at most `keys_limit` of them (None: all).

    A subscription gets a key per order line, so it may have thousands: a list
    that shows many subscriptions limits how many keys each brings along
    (subscription_keys() pages through all of them).
    """
    active_keys = Prefetch(
        "license_keys",
        queryset=unrevoked_keys() if keys_limit is None else unrevoked_keys()[:keys_limit],
        to_attr="active_keys",
    )
    keys_count = (
        unrevoked_keys()
        .filter(subscription=OuterRef("pk"))
        .order_by()
        .values("subscription")
        .annotate(count=Count("id"))
        .values("count")
    )
    subscriptions = (
        Subscription.objects.filter(customer=customer)
        .select_related("product")
        .annotate(sku=F("product__sku"), keys_count=Coalesce(Subquery(keys_count, output_field=IntegerField()), Value(0)))
        .prefetch_related(active_keys)
    )
    return with_seats(subscriptions).order_by("sku")


def unrevoked_keys() -> QuerySet[LicenseKey]:
    """License keys that are not revoked, oldest first."""
    return LicenseKey.objects.filter(revoked_at__isnull=True).order_by("issued_at", "id")


def subscription_keys(*, subscription: Subscription) -> QuerySet[LicenseKey]:
    """The subscription's unrevoked keys, oldest first."""
    return unrevoked_keys().filter(subscription=subscription)


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


@dataclass(frozen=True)
class FamilyOf:
    """What the add-on rule needs to know of a product: its kind, its family, the base family an add-on runs on."""

    kind: str
    family: str
    base_family: str

    @classmethod
    def of(cls, product: Product) -> "FamilyOf":
        return cls(kind=product.kind, family=product.family, base_family=product.base_family)


def product_families() -> dict[int, FamilyOf]:
    """product id → FamilyOf, for the whole catalog (a handful of rows). One query."""
    rows = Product.objects.values_list("id", "kind", "family", "base_family")
    return {product_id: FamilyOf(kind, family, base_family) for product_id, kind, family, base_family in rows}


def seats_and_families_for_customers(
    *, customer_ids: Iterable[int], excluding_references: Iterable[str] = ()
) -> tuple[dict[int, dict[int, int]], dict[int, FamilyOf]]:
    """customer id → (product id → seats), and the FamilyOf each of those products, in one grouped query.

    `excluding_references`: ledger entries left out (the lines a provisioning
    is about to record, so that a re-run does not count them as already there).
    """
    rows = (
        SeatLedgerEntry.objects.filter(subscription__customer_id__in=list(customer_ids))
        .exclude(reference__in=list(excluding_references))
        .order_by()
        .values_list(
            "subscription__customer_id",
            "subscription__product_id",
            "subscription__product__kind",
            "subscription__product__family",
            "subscription__product__base_family",
        )
        .annotate(total=Sum("quantity"))
    )
    seats: dict[int, dict[int, int]] = {}
    families: dict[int, FamilyOf] = {}
    for customer_id, product_id, kind, family, base_family, total in rows:
        seats.setdefault(customer_id, {})[product_id] = total
        families[product_id] = FamilyOf(kind, family, base_family)
    return seats, families


@dataclass(frozen=True)
class AddonExcess:
    """An add-on family with more seats than the family of base licenses it runs on (RDA over SRA)."""

    addon_family: str
    base_family: str
    addon_seats: int
    base_seats: int

    @property
    def excess(self) -> int:
        return self.addon_seats - self.base_seats


def addon_excess(*, seats: dict[int, int], added: dict[int, int], families: dict[int, FamilyOf]) -> list[AddonExcess]:
    """The add-on families that `added` adds seats to and whose seats would then exceed their base family's.

    `seats`: the customer's current seats by product id; `added`: seats a change
    adds, by product id; `families`: FamilyOf by product id, for at least every
    id of both. Seats of every term count together: an add-on family runs on
    every base license of its base family (SRA-1Y and SRA-3Y both carry RDA-1Y
    seats). Only families the change adds add-on seats to are judged: a change
    that adds base seats alone can only reduce an excess, and an excess left
    from before is not this change's doing. No query.
    """
    after: dict[int, int] = dict(seats)
    for product_id, quantity in added.items():
        after[product_id] = after.get(product_id, 0) + quantity
    judged = {
        (families[product_id].family, families[product_id].base_family)
        for product_id, quantity in added.items()
        if quantity > 0 and families[product_id].kind == Product.Kind.ADDON
    }
    excess = []
    for addon_family, base_family in sorted(judged):
        addon_seats = base_seats = 0
        for product_id, count in after.items():
            product = families[product_id]
            if product.kind == Product.Kind.ADDON and product.family == addon_family:
                addon_seats += count
            elif product.kind == Product.Kind.BASE and product.family == base_family:
                base_seats += count
        if addon_seats > base_seats:
            excess.append(AddonExcess(addon_family, base_family, addon_seats=addon_seats, base_seats=base_seats))
    return excess


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
    seats: int  # of the key's subscription
    is_addon: bool
    addon_family_seats: int  # an add-on's: its family's seats, every term together (0 for a base license)
    base_family_seats: int  # an add-on's: the seats of the base family it runs on (0 for a base license)
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
      3. EXPIRED — `at`, as a date in Japan, is after the term's last day
         and its LICENSE_EXPIRY_GRACE_DAYS (a renewal extends the term).
      4. SEAT_LIMIT — the subscription has no seats (ledger sum ≤ 0), or it is
         an add-on whose family has more seats than the base family it runs on
         (every term counted: RDA-1Y seats against SRA-1Y and SRA-3Y seats).
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
    if at.astimezone(JAPAN).date() > facts.term_end and not _in_grace(facts.term_end, at):
        return LicenseDecision(valid=False, code=DecisionCode.EXPIRED)
    if facts.seats <= 0 or (facts.is_addon and facts.addon_family_seats > facts.base_family_seats):
        return LicenseDecision(valid=False, code=DecisionCode.SEAT_LIMIT)
    if facts.calendar is not None and not is_inside_hours(facts.calendar, at, lambda: facts.closed_periods):
        return LicenseDecision(
            valid=facts.mode == WorkHoursPolicy.Mode.WARN, code=DecisionCode.OUTSIDE_WORKING_HOURS, mode=facts.mode
        )
    return LicenseDecision(valid=True, code=DecisionCode.VALID)


def _in_grace(term_end: date, at: datetime) -> bool:
    """Within LICENSE_EXPIRY_GRACE_DAYS after the term's last day (Japan time): still usable while a renewal is on its way."""
    grace = settings.LICENSE_EXPIRY_GRACE_DAYS
    return grace > 0 and (at.astimezone(JAPAN).date() - term_end).days <= grace


# The add-on rule's two sums, as addon_excess() counts them for provisioning: the seats of the key's
# add-on family, every term together, and of the base family it runs on. Read for an add-on only.
_FAMILY_SEATS = """COALESCE((SELECT SUM(e.quantity) FROM licensing_seatledgerentry e
                  JOIN licensing_subscription fs ON fs.id = e.subscription_id
                  JOIN licensing_product fp ON fp.id = fs.product_id
                  WHERE fs.customer_id = s.customer_id AND fp.kind = '{kind}' AND fp.family = p.{family}), 0)"""

_KEY_FACTS_SQL = f"""
SELECT k.id, k.revoked_at IS NOT NULL, s.customer_id, s.status, s.term_end,
       COALESCE((SELECT SUM(e.quantity) FROM licensing_seatledgerentry e WHERE e.subscription_id = s.id), 0),
       p.kind = 'addon',
       CASE WHEN p.kind = 'addon' THEN {_FAMILY_SEATS.format(kind="addon", family="family")} END,
       CASE WHEN p.kind = 'addon' THEN {_FAMILY_SEATS.format(kind="base", family="base_family")} END,
       c.time_zone, w.id, w.mode, w.time_zone, w.working_days, w.start_time, w.end_time, w.public_holidays,
       (SELECT {{closed_periods}} FROM licensing_closedperiod cp WHERE cp.customer_id = s.customer_id AND w.id IS NOT NULL)
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


@functools.cache
def _key_facts_sql(vendor: str, *, of_customer: bool) -> str:
    sql = _KEY_FACTS_SQL.format(closed_periods=_CLOSED_PERIODS_AGGREGATE[vendor])
    return sql + "AND s.customer_id = %s\n" if of_customer else sql


def key_facts(*, key: str, customer_id: int | None) -> KeyFacts | None:
    """The facts of the license key `key` (normalised), of that customer if one is given; None if there is none."""
    if customer_id is None:
        row = fetch_one(_key_facts_sql(connection.vendor, of_customer=False), [key])
    else:
        row = fetch_one(_key_facts_sql(connection.vendor, of_customer=True), [key, customer_id])
    if row is None:
        return None
    (key_id, revoked, customer_id, status, term_end, seats, is_addon, addon_family_seats, base_family_seats,
     customer_zone, policy_id, mode, policy_zone, working_days, start, end, holidays_country, closed_periods) = row  # fmt: skip
    calendar = None
    if policy_id is not None:
        # PostgreSQL hands the working days over as a list, SQLite as JSON text: either way a hashable key.
        days = working_days if isinstance(working_days, str) else tuple(working_days)
        calendar = _work_calendar(policy_zone or customer_zone, days, start, end, holidays_country)
    return KeyFacts(
        closed_periods=_periods_from_text(closed_periods),
        license_key_id=key_id,
        revoked=bool(revoked),
        customer_id=customer_id,
        subscription_status=status,
        term_end=_as_date(term_end),
        is_addon=bool(is_addon),
        seats=seats,
        addon_family_seats=addon_family_seats or 0,
        base_family_seats=base_family_seats or 0,
        calendar=calendar,
        mode=mode,
    )


# A customer's calendar and closed periods are built once per process for each set of values the
# statement reads: the statement still reads them on every validation, so a policy or closed day
# edited in the admin applies to the very next one, and only the parsing is saved.
@functools.lru_cache(maxsize=1024)
def _work_calendar(zone_name: str, working_days: str | tuple[int, ...], start, end, holiday_country: str) -> WorkCalendar:
    return WorkCalendar(
        zone=zone_or_japan(zone_name),
        working_days=frozenset(json.loads(working_days) if isinstance(working_days, str) else working_days),
        start=_as_time(start),
        end=_as_time(end),
        holiday_country=holiday_country,
    )


@functools.lru_cache(maxsize=1024)
def _periods_from_text(text: str | None) -> tuple[Period, ...]:
    if not text:
        return ()
    periods = []
    for period in text.split(","):
        first, last, every_year = period.split(" ")
        periods.append(Period(date.fromisoformat(first), date.fromisoformat(last), every_year in ("true", "1")))
    return tuple(periods)


# SQLite hands dates and times back as text; PostgreSQL as date and time objects.
def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _as_time(value) -> time:
    return value if isinstance(value, time) else time.fromisoformat(value)


def subscription_history(*, subscription: Subscription, since: datetime | None = None) -> QuerySet[SeatLedgerEntry]:
    """The subscription's seat ledger oldest first, from `since` on; with_seats_after() adds the running count."""
    entries = SeatLedgerEntry.objects.filter(subscription=subscription).order_by("created_at", "id")
    if since is not None:
        entries = entries.filter(created_at__gte=since)
    return entries


def with_seats_after(entries: Sequence[SeatLedgerEntry]) -> Sequence[SeatLedgerEntry]:
    """Set `seats_after`, the seats after the entry, on consecutive entries of one ledger, oldest first.

    The entries may be any run of the ledger (a page of it, or what came after
    a date): one query sums the seats before the first, whatever came earlier.
    """
    if not entries:
        return entries
    first = entries[0]
    earlier = Q(created_at__lt=first.created_at) | Q(created_at=first.created_at, id__lt=first.id)
    balance = (
        SeatLedgerEntry.objects.filter(earlier, subscription_id=first.subscription_id).aggregate(total=Sum("quantity"))["total"]
        or 0
    )
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
        customers = customers.filter(Q(code__icontains=query) | Q(name__icontains=query))
    return customers
