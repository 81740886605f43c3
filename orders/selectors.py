"""Reads of orders that other apps' data completes (licenses, documents)."""

from dataclasses import dataclass
from datetime import date, datetime

from licensing.models import LicenseKey, SeatLedgerEntry
from orders.models import Order


@dataclass(frozen=True)
class ProvisionedLicense:
    sku: str
    seats: int
    key: str | None
    term_start: date
    term_end: date
    provisioned_at: datetime
    reference: str


def order_licenses(*, order: Order) -> list[ProvisionedLicense]:
    """What provisioning recorded for each of the order's lines: its ledger entry and license key. Two queries."""
    lines = list(order.lines.all())
    references = [line.ledger_reference for line in lines]
    entries = {
        entry.reference: entry
        for entry in SeatLedgerEntry.objects.filter(reference__in=references).select_related("subscription__product")
    }
    keys = dict(LicenseKey.objects.filter(reference__in=references).values_list("reference", "key"))
    provisioned = []
    for line in lines:
        entry = entries.get(line.ledger_reference)
        if entry is None:
            continue
        provisioned.append(
            ProvisionedLicense(
                sku=entry.subscription.product.sku,
                seats=entry.quantity,
                key=keys.get(entry.reference),
                term_start=entry.subscription.term_start,
                term_end=entry.subscription.term_end,
                provisioned_at=entry.created_at,
                reference=entry.reference,
            )
        )
    return provisioned
