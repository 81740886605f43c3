"""Writes of the licensing app: seats through the append-only ledger, license keys.

Every write is idempotent per `reference` (the cause, e.g. "order-line:1234"):
the reference is unique in the database, so a Celery step that runs twice, or
two workers racing on one message, record it once. The unique index decides
the race — no lock, no "check then insert" that two transactions could both pass.
"""

from contextlib import nullcontext
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar

from django.db import IntegrityError, models, transaction
from django.db.models import Sum
from django.utils import timezone

from licensing.models import (
    JAPAN,
    Customer,
    LicenseKey,
    Product,
    SeatLedgerEntry,
    Subscription,
    generate_license_key,
)
from licensing.pricing import add_months
from licensing.selectors import AddonExcess, FamilyOf, addon_excess, seats_and_families_for_customers

Row = TypeVar("Row", bound=models.Model)


class LedgerError(ValueError):
    """A seat change that cannot be recorded as asked."""


class ReferenceConflict(LedgerError):
    """The reference was already recorded, for something else: a caller bug, never silently merged."""


class SeatsBelowZero(LedgerError):
    pass


class AddonSeatsExceedBase(LedgerError):
    """Add-on seats may never exceed the seats of the base licenses they run on: provisioning refuses them.

    The ledger's own rule, whoever approved the order: a person may override a
    review rule, never this. `excess` says by how much, per add-on family.
    """

    def __init__(self, *, customer: Customer, excess: Sequence[AddonExcess]):
        self.customer = customer
        self.excess = list(excess)
        details = "; ".join(
            f"{item.addon_family} add-on seats {item.addon_seats} > {item.base_family} base seats {item.base_seats} "
            f"({item.excess} over)"
            for item in self.excess
        )
        super().__init__(f"{customer.code}: {details}")


def term_end_for(*, term_start: date, term_months: int) -> date:
    """A 12-month term from 2026-04-01 ends on 2027-03-31."""
    return add_months(term_start, term_months) - timedelta(days=1)


def japan_today() -> date:
    return timezone.localdate(timezone=JAPAN)


@dataclass(frozen=True)
class SeatsRequest:
    """One line to provision: `quantity` seats of `product`, recorded once under `reference`."""

    product: Product
    quantity: int
    reference: str
    reason: str = ""


@dataclass(frozen=True)
class Provisioned:
    entry: SeatLedgerEntry
    license_key: LicenseKey


@dataclass(frozen=True)
class CustomerSeats:
    """What one order provisions: its customer's lines, and the term a subscription it creates starts on."""

    customer: Customer
    requests: Sequence[SeatsRequest]
    term_start: date | None = None


def seats_provision_batch(batch: Sequence[CustomerSeats]) -> list[list[Provisioned]]:
    """Add seats through the ledger and issue a license key, once per request's reference, for many orders.

    A subscription a request needs is created on first provisioning (its term
    from the group's term_start, default today in Japan, for the product's
    term_months); an existing one keeps its term: more seats join the running
    term. Per reference, a second call records nothing and returns the first
    entry and key; a reference already recorded for other seats raises
    ReferenceConflict. Rows are inserted with ON CONFLICT DO NOTHING and read
    back by reference, so the unique indexes decide a race with a concurrent
    caller, and what is returned is what the database holds. The statements do
    not grow with the number of orders or lines. Returns, for each
    CustomerSeats, one result per request, in order.
    """
    pairs = [(group.customer, request) for group in batch for request in group.requests]
    references = [request.reference for _customer, request in pairs]
    if len(set(references)) != len(references):
        raise LedgerError(f"each line needs its own reference, got {references}")
    for _customer, request in pairs:
        if request.quantity < 1:
            raise LedgerError(f"provisioning adds at least one seat, got {request.quantity} for {request.reference}")
    if not pairs:
        return [[] for _group in batch]
    # The customers' lock taken in _refuse_addon_excess lasts until the entries commit.
    with _transaction_unless_in_one():
        _refuse_addon_excess(batch)
        subscriptions = _subscriptions_get_or_create(batch)
        entries = _entries_create_once(
            {request.reference: (request, subscriptions[customer.pk, request.product.pk]) for customer, request in pairs}
        )
    for customer, request in pairs:
        _same_entry(entries[request.reference], customer=customer, product=request.product, quantity=request.quantity)
    keys = _keys_issue_once({reference: entries[reference].subscription for reference in references})
    return [
        [Provisioned(entry=entries[request.reference], license_key=keys[request.reference]) for request in group.requests]
        for group in batch
    ]


def _refuse_addon_excess(batch: Sequence[CustomerSeats]) -> None:
    """Raise AddonSeatsExceedBase if the batch's add-on seats would take a customer's add-on family over its base.

    Only customers adding add-on seats are judged, and locked first (their
    rows, in id order): two batches adding add-on seats for one customer then
    judge one after the other, and cannot both pass on the same base seats.
    The batch's own lines are left out of the current seats, so a re-run
    counts them once. Base seats in the same batch count. Two queries when
    some customer adds add-on seats, none otherwise.
    """
    groups = [group for group in batch if any(request.product.kind == Product.Kind.ADDON for request in group.requests)]
    if not groups:
        return
    customer_ids = sorted({group.customer.pk for group in groups})
    _lock_customers(customer_ids)
    seats, families = seats_and_families_for_customers(
        customer_ids=customer_ids, excluding_references=[request.reference for group in groups for request in group.requests]
    )
    added: dict[int, dict[int, int]] = {}
    customers: dict[int, Customer] = {}
    for group in groups:
        customers[group.customer.pk] = group.customer
        by_product = added.setdefault(group.customer.pk, {})
        for request in group.requests:
            by_product[request.product.pk] = by_product.get(request.product.pk, 0) + request.quantity
            families[request.product.pk] = FamilyOf.of(request.product)
    for customer_id, by_product in added.items():
        excess = addon_excess(seats=seats.get(customer_id, {}), added=by_product, families=families)
        if excess:
            raise AddonSeatsExceedBase(customer=customers[customer_id], excess=excess)


def _transaction_unless_in_one():
    """The caller's transaction when there is one (the pipeline's step), else one of our own.

    Not a savepoint: a refusal is raised before anything is written, so the
    caller's transaction stays usable, and a provisioning step costs no extra statements.
    """
    return nullcontext() if transaction.get_connection().in_atomic_block else transaction.atomic()


def _lock_customers(customer_ids: Sequence[int]) -> None:
    # FOR NO KEY UPDATE: an order's insert (FOR KEY SHARE on its customer) does not wait for it.
    list(Customer.objects.select_for_update(no_key=True).filter(pk__in=customer_ids).order_by("pk").values_list("pk"))


def _subscriptions_get_or_create(batch: Sequence[CustomerSeats]) -> dict[tuple[int, int], Subscription]:
    """(customer id, product id) → the subscription; missing ones created (race-safe on the unique pair). 1–3 queries."""
    wanted: dict[tuple[int, int], tuple[Customer, Product, date | None]] = {}
    for group in batch:
        for request in group.requests:
            wanted.setdefault((group.customer.pk, request.product.pk), (group.customer, request.product, group.term_start))

    def existing() -> dict[tuple[int, int], Subscription]:
        rows = Subscription.objects.filter(
            customer_id__in={customer_id for customer_id, _ in wanted}, product_id__in={product_id for _, product_id in wanted}
        )
        return {key: row for row in rows if (key := (row.customer_id, row.product_id)) in wanted}

    found = existing()
    # In (customer, product) order: two batches creating the same subscriptions
    # then insert in the same order, and one waits for the other instead of both deadlocking.
    missing = [wanted[key] for key in sorted(wanted) if key not in found]
    if not missing:
        return found
    today = japan_today()
    Subscription.objects.bulk_create(
        [
            Subscription(
                customer=customer,
                product=product,
                term_start=term_start or today,
                term_end=term_end_for(term_start=term_start or today, term_months=product.term_months),
            )
            for customer, product, term_start in missing
        ],
        ignore_conflicts=True,  # a concurrent caller created it first: read theirs below
    )
    found = existing()
    if set(found) != set(wanted):
        raise LedgerError(f"could not create subscriptions for (customer, product) {sorted(set(wanted) - set(found))}")
    return found


def _entries_create_once(requested: dict[str, tuple[SeatsRequest, Subscription]]) -> dict[str, SeatLedgerEntry]:
    """reference → the ledger entry the database holds for it, inserting those not yet recorded. 2 queries."""
    SeatLedgerEntry.objects.bulk_create(
        [
            SeatLedgerEntry(
                subscription=subscription,
                quantity=request.quantity,
                reference=reference,
                reason=request.reason or f"provisioned for {reference}",
            )
            for reference, (request, subscription) in requested.items()
        ],
        ignore_conflicts=True,  # recorded before (a re-run) or by a concurrent caller: never twice
    )
    entries = {
        entry.reference: entry
        for entry in SeatLedgerEntry.objects.select_related("subscription").filter(reference__in=list(requested))
    }
    if len(entries) != len(requested):
        raise LedgerError(f"ledger entries missing after insert: {sorted(set(requested) - set(entries))}")
    return entries


def _keys_issue_once(subscriptions: dict[str, Subscription], attempts: int = 5) -> dict[str, LicenseKey]:
    """reference → its license key, issuing keys for references without one. 2 queries, more only on a key clash.

    A row skipped by ON CONFLICT is either a reference already holding a key
    (read back below) or, all but impossibly, a drawn key already taken: that
    reference is still missing after the read and gets a fresh draw.
    """
    keys: dict[str, LicenseKey] = {}
    for _attempt in range(attempts):
        missing = [reference for reference in subscriptions if reference not in keys]
        if not missing:
            break
        LicenseKey.objects.bulk_create(
            [
                LicenseKey(subscription=subscriptions[reference], key=generate_license_key(), reference=reference)
                for reference in missing
            ],
            ignore_conflicts=True,
        )
        keys.update((key.reference, key) for key in LicenseKey.objects.filter(reference__in=missing))
    else:
        if len(keys) != len(subscriptions):
            raise RuntimeError(f"no unused license key after {attempts} draws; is the generator broken?")
    for reference, key in keys.items():
        if key.subscription_id != subscriptions[reference].pk:
            raise ReferenceConflict(f"{reference} already has key {key.key} for another subscription")
    return keys


def seats_adjust(*, subscription: Subscription, quantity: int, reference: str, reason: str) -> SeatLedgerEntry:
    """Record a correction (usually negative: seats returned or provisioned by mistake), once per reference.

    The subscription row is locked while the balance is checked, so two
    concurrent removals cannot together take it below zero.
    """
    if quantity == 0:
        raise LedgerError("an adjustment changes at least one seat")
    if not reason:
        raise LedgerError("an adjustment needs a reason: the ledger is the audit trail")
    with transaction.atomic():
        Subscription.objects.select_for_update().filter(pk=subscription.pk).first()
        existing = SeatLedgerEntry.objects.filter(reference=reference).first()
        if existing is not None:
            if existing.subscription_id != subscription.pk or existing.quantity != quantity:
                raise ReferenceConflict(f"{reference} is already recorded as {existing.quantity:+d} seats elsewhere")
            return existing
        balance = SeatLedgerEntry.objects.filter(subscription=subscription).aggregate(total=Sum("quantity"))["total"] or 0
        if balance + quantity < 0:
            raise SeatsBelowZero(f"{subscription} has {balance} seats; removing {-quantity} would leave {balance + quantity}")
        return _create_once(
            SeatLedgerEntry,
            reference=reference,
            create=lambda: SeatLedgerEntry.objects.create(
                subscription=subscription, quantity=quantity, reference=reference, reason=reason
            ),
        )


def license_key_revoke(*, license_key: LicenseKey) -> bool:
    """Revoke a key; False if it already was (compare-and-set, safe to repeat)."""
    now = timezone.now()
    revoked = LicenseKey.objects.filter(pk=license_key.pk, revoked_at__isnull=True).update(revoked_at=now)
    if revoked:
        license_key.revoked_at = now
    return bool(revoked)


def _create_once(model: type[Row], *, reference: str, create: Callable[[], Row]) -> Row:
    """Insert a row keyed by a unique `reference`, or return the row a concurrent caller inserted first.

    The insert runs in a savepoint so that losing the race leaves an enclosing
    transaction usable. On PostgreSQL the loser's INSERT waits for the winner
    to commit, then fails on the unique index, and the read below sees the row.
    """
    try:
        with transaction.atomic():
            return create()
    except IntegrityError:
        existing = model.objects.filter(reference=reference).first()
        if existing is None:
            raise  # another constraint failed, not the reference
        return existing


def _same_entry(entry: SeatLedgerEntry, *, customer: Customer, product: Product, quantity: int) -> SeatLedgerEntry:
    subscription = entry.subscription
    if subscription.customer_id != customer.pk or subscription.product_id != product.pk or entry.quantity != quantity:
        raise ReferenceConflict(
            f"{entry.reference} is already recorded as {entry.quantity:+d} seats of subscription {subscription.pk}"
        )
    return entry
