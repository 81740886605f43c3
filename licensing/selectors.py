"""Reads of the licensing app: seats derived from the ledger, and license validation."""

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, F, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from licensing.models import (
    JAPAN,
    Customer,
    LicenseKey,
    Product,
    SeatLedgerEntry,
    Subscription,
    WorkHoursPolicy,
)
from licensing.pricing import Tier
from orderdesk.db import fetch_all


@dataclass(frozen=True)
class PricedProduct:
    """What an order line needs of a product: what it freezes (name, unit, tax rate) and the tiers that price it."""

    id: int
    sku: str
    name_ja: str
    unit: str
    tax_rate: int
    tiers: tuple[Tier, ...]


def priced_products(skus: Iterable[str]) -> dict[str, PricedProduct]:
    """SKU → product with its volume tiers, in one statement (the order intake's read of the catalog).

    Inactive products are included: an order for one is accepted and held for
    review by the pipeline's rules. SKUs that do not exist are simply absent.
    Read from the database on every call, so a changed price or product
    applies to the very next order.
    """
    skus = sorted(set(skus))
    if not skus:
        return {}
    return _priced_products_from_rows(fetch_all(_priced_products_sql(len(skus)), skus))


@functools.cache
def _priced_products_sql(sku_count: int) -> str:
    # One row per volume tier (a product without tiers: one row with NULL tier columns).
    return (
        "SELECT p.id, p.sku, p.name_ja, p.unit, p.tax_rate, t.min_quantity, t.unit_price"
        " FROM licensing_product p LEFT JOIN licensing_pricetier t ON t.product_id = p.id"
        f" WHERE p.sku IN ({', '.join(['%s'] * sku_count)})"
    )


def _priced_products_from_rows(rows: Iterable[Sequence]) -> dict[str, PricedProduct]:
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


def license_validate(*, customer: Customer, key: str, at: datetime | None = None) -> LicenseDecision:
    """May this customer's user start the license `key` at `at` (default now)?

    Checked in this order, the first failing check answers:
      1. UNKNOWN_KEY — no such key for this customer. Another customer's key
         answers the same, so keys of others are never confirmed to exist.
      2. SUSPENDED — the key is revoked or the subscription suspended (a staff
         decision outranks everything the calendar says).
      3. EXPIRED — `at`, as a date in Japan, is after the term's last day.
      4. SEAT_LIMIT — the subscription has no seats (ledger sum ≤ 0), or it is
         an add-on whose family has more seats than the base family it runs on
         (every term counted: RDA-1Y seats against SRA-1Y and SRA-3Y seats).
      5. OUTSIDE_WORKING_HOURS — an active work-hours policy and `at` outside
         it, in the policy's time zone; mode "warn" is still valid, "block" not.
         Last, because it is the only check that may still allow use.
      6. VALID.
    """
    at = _aware(at or timezone.now())
    license_key = (
        LicenseKey.objects.select_related("subscription__product")
        .filter(key=normalize_license_key(key), subscription__customer=customer)
        .first()
    )
    if license_key is None:
        return LicenseDecision(valid=False, code=DecisionCode.UNKNOWN_KEY)
    subscription = license_key.subscription
    if license_key.is_revoked or subscription.status == Subscription.Status.SUSPENDED:
        return LicenseDecision(valid=False, code=DecisionCode.SUSPENDED)
    if at.astimezone(JAPAN).date() > subscription.term_end:
        return LicenseDecision(valid=False, code=DecisionCode.EXPIRED)
    if not _has_seats(subscription):
        return LicenseDecision(valid=False, code=DecisionCode.SEAT_LIMIT)
    policy = WorkHoursPolicy.objects.filter(customer=customer, is_active=True).first()
    if policy is not None and not work_hours_contain(policy=policy, at=at):
        return LicenseDecision(
            valid=policy.mode == WorkHoursPolicy.Mode.WARN, code=DecisionCode.OUTSIDE_WORKING_HOURS, mode=policy.mode
        )
    return LicenseDecision(valid=True, code=DecisionCode.VALID)


def work_hours_contain(*, policy: WorkHoursPolicy, at: datetime) -> bool:
    """Is `at` on a working day, at or after the start and before the end, in the policy's zone?"""
    local = _aware(at).astimezone(policy.zone)
    return local.isoweekday() in policy.working_days and policy.start_time <= local.time() < policy.end_time


def _has_seats(subscription: Subscription) -> bool:
    seats = subscription_seats(subscription=subscription)
    if seats <= 0:
        return False
    product = subscription.product
    if product.kind != Product.Kind.ADDON:
        return True
    # The add-on family's seats, every term together, against its base family's (one query).
    family_seats = SeatLedgerEntry.objects.filter(subscription__customer_id=subscription.customer_id).aggregate(
        addon=Sum("quantity", filter=Q(subscription__product__kind=Product.Kind.ADDON, subscription__product__family=product.family)),
        base=Sum("quantity", filter=Q(subscription__product__kind=Product.Kind.BASE, subscription__product__family=product.base_family)),
    )
    return (family_seats["addon"] or 0) <= (family_seats["base"] or 0)


def _aware(at: datetime) -> datetime:
    # A time without an offset is read as Japan time, like everything else in Orderdesk.
    return at if timezone.is_aware(at) else timezone.make_aware(at, JAPAN)


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
