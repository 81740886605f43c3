"""Add-on seats may never exceed the base seats they run on: a rule of the seat ledger, whoever approved the order.

An add-on counts against a family of base licenses (RDA against SRA, every
term together: SRA-1Y and SRA-3Y), not against one base product.
"""

import importlib
import threading

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from licensing import services
from licensing.models import Product, SeatLedgerEntry
from licensing.selectors import addon_excess, product_families, seats_by_product
from licensing.services import AddonSeatsExceedBase, CustomerSeats, LedgerError, SeatsRequest, seats_provision_batch
from orders.models import Order, ReviewReason
from orders.services.review import order_approve
from orders.services.transitions import Actor
from tests.backlog_support import held_order, manager, order_desk, signed_in  # noqa: F401
from tests.concurrency import run_at_once
from tests.factories import PriceTierFactory, ProductFactory
from tests.test_order_rules import run_to_rest

pytestmark = pytest.mark.django_db


def seats_provision_many(*, customer, requests):
    """One order's lines through the ledger service."""
    return seats_provision_batch([CustomerSeats(customer=customer, requests=requests)])[0]


@pytest.fixture
def sra_3y(catalog):
    product = ProductFactory(sku="SRA-3Y", family="SRA", kind=Product.Kind.BASE, term_months=36)
    PriceTierFactory(product=product, min_quantity=1, unit_price=16200)
    catalog["SRA-3Y"] = product
    return product


def provision(customer, product, quantity, reference):
    return seats_provision_many(customer=customer, requests=[SeatsRequest(product=product, quantity=quantity, reference=reference)])


def excess_after(customer, catalog, **additions):
    added = {catalog[sku.replace("_", "-")].pk: quantity for sku, quantity in additions.items()}
    return [
        (item.addon_family, item.base_family, item.addon_seats, item.base_seats)
        for item in addon_excess(seats=seats_by_product(customer=customer), added=added, families=product_families())
    ]


# --- the rule, as the order rules and the ledger both judge it ---------------------------


def test_addon_seats_up_to_the_base_seats_pass_and_one_more_is_an_excess(customer, catalog):
    provision(customer, catalog["SRA-1Y"], 10, "order-line:1")

    assert excess_after(customer, catalog, RDA_1Y=10) == []
    assert excess_after(customer, catalog, RDA_1Y=11) == [("RDA", "SRA", 11, 10)]


def test_base_seats_added_by_the_same_change_count(customer, catalog):
    assert excess_after(customer, catalog, SRA_1Y=5, RDA_1Y=5) == []
    assert excess_after(customer, catalog, SRA_1Y=5, RDA_1Y=6) == [("RDA", "SRA", 6, 5)]


def test_a_three_year_base_license_counts_as_a_base_for_the_addon_like_a_one_year_one(customer, catalog, sra_3y):
    provision(customer, sra_3y, 10, "order-line:1")
    provision(customer, catalog["SRA-1Y"], 5, "order-line:2")

    assert excess_after(customer, catalog, RDA_1Y=15) == []
    assert excess_after(customer, catalog, RDA_1Y=16) == [("RDA", "SRA", 16, 15)]


def test_addon_seats_of_every_term_count_together(customer, catalog):
    rda_3y = ProductFactory(sku="RDA-3Y", family="RDA", kind=Product.Kind.ADDON, base_family="SRA", term_months=36)
    catalog["RDA-3Y"] = rda_3y
    provision(customer, catalog["SRA-1Y"], 10, "order-line:1")
    provision(customer, catalog["RDA-1Y"], 6, "order-line:2")

    assert excess_after(customer, catalog, RDA_3Y=4) == []
    assert excess_after(customer, catalog, RDA_3Y=5) == [("RDA", "SRA", 11, 10)]


def test_only_this_customers_seats_count_and_adding_base_alone_is_never_an_excess(customer, other_customer, catalog):
    provision(other_customer, catalog["SRA-1Y"], 500, "order-line:1")

    assert excess_after(customer, catalog, RDA_1Y=1) == [("RDA", "SRA", 1, 0)]
    assert excess_after(customer, catalog, SRA_1Y=1) == []


# --- the ledger refuses, whoever asks ------------------------------------------------------


def test_provisioning_addon_seats_beyond_the_base_is_refused_and_records_nothing(customer, catalog):
    provision(customer, catalog["SRA-1Y"], 10, "order-line:1")

    with pytest.raises(AddonSeatsExceedBase) as refused:
        seats_provision_many(
            customer=customer,
            requests=[
                SeatsRequest(product=catalog["SRA-1Y"], quantity=5, reference="order-line:2"),
                SeatsRequest(product=catalog["RDA-1Y"], quantity=16, reference="order-line:3"),
            ],
        )

    assert isinstance(refused.value, LedgerError)
    assert "RDA add-on seats 16 > SRA base seats 15 (1 over)" in str(refused.value)
    assert list(SeatLedgerEntry.objects.values_list("reference", flat=True)) == ["order-line:1"]


def test_a_rerun_of_recorded_addon_lines_is_not_counted_twice(customer, catalog):
    lines = [
        SeatsRequest(product=catalog["SRA-1Y"], quantity=10, reference="order-line:1"),
        SeatsRequest(product=catalog["RDA-1Y"], quantity=10, reference="order-line:2"),
    ]
    first = seats_provision_many(customer=customer, requests=lines)

    again = seats_provision_many(customer=customer, requests=lines)

    assert [result.entry.pk for result in again] == [result.entry.pk for result in first]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("locked", [True, False], ids=["with the lock", "control: without the lock"])
def test_two_workers_adding_addon_seats_at_once_cannot_both_spend_the_same_base(
    requires_postgres, customer, catalog, monkeypatch, locked
):
    provision(customer, catalog["SRA-1Y"], 10, "order-line:base")
    if not locked:
        monkeypatch.setattr(services, "_lock_customers", lambda customer_ids: None)
    # Each worker waits, after reading the seats, until the other has read them too (or 2 s):
    # without the lock both read 0 add-on seats; with it the second reads after the first commits.
    barrier = threading.Barrier(2, timeout=2)
    read_seats = services.seats_and_families_for_customers

    def read_then_wait(**kwargs):
        seats = read_seats(**kwargs)
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        return seats

    monkeypatch.setattr(services, "seats_and_families_for_customers", read_then_wait)
    counter = iter(range(2))
    counter_lock = threading.Lock()

    def add_seven_addon_seats():
        with counter_lock:
            line = next(counter)
        return provision(customer, catalog["RDA-1Y"], 7, f"order-line:addon-{line}")

    results = run_at_once(2, add_seven_addon_seats)

    refused = [result for result in results if isinstance(result, AddonSeatsExceedBase)]
    addon_seats = seats_by_product(customer=customer).get(catalog["RDA-1Y"].pk, 0)
    if locked:
        assert len(refused) == 1, results
        assert addon_seats == 7
    else:
        assert refused == [], results
        assert addon_seats == 14  # the race the lock closes: 14 add-on seats on 10 base seats


# --- whoever approved, the order goes back to review ------------------------------------------


def test_an_order_approved_over_the_addon_rule_is_refused_at_provisioning_and_held_again(customer, catalog, order_desk):
    order = held_order(customer, catalog, reasons=[ReviewReason.ADDON_EXCEEDS_BASE], lines=[("RDA-1Y", 30)])

    order_approve(order=order, actor=Actor.staff(order_desk), override_reason="お客様が基本ライセンスは別途購入済みと")
    order = run_to_rest(order)

    assert order.status == Order.Status.NEEDS_REVIEW
    assert order.review_reasons == [ReviewReason.ADDON_EXCEEDS_BASE, ReviewReason.PROVISIONING_REFUSED]
    assert "RDA add-on seats 30 > SRA base seats 0" in order.status_reason
    assert not SeatLedgerEntry.objects.exists()


def test_a_bulk_approval_by_a_manager_is_refused_at_provisioning_too(client, customer, catalog, manager):
    fits = held_order(customer, catalog, reasons=[ReviewReason.MANUAL_APPROVAL], lines=[("SRA-1Y", 10), ("RDA-1Y", 10)])
    too_many = held_order(customer, catalog, reasons=[ReviewReason.ADDON_EXCEEDS_BASE], lines=[("RDA-1Y", 50)])
    signed_in(client, manager)

    client.post(reverse("orders:bulk"), {"action": "approve", "orders": [fits.pk, too_many.pk], "reason": "一括承認"})
    fits, too_many = run_to_rest(fits), run_to_rest(too_many)

    assert fits.status == Order.Status.COMPLETED
    assert too_many.status == Order.Status.NEEDS_REVIEW and ReviewReason.PROVISIONING_REFUSED in too_many.review_reasons
    assert seats_by_product(customer=customer) == {catalog["SRA-1Y"].pk: 10, catalog["RDA-1Y"].pk: 10}


# --- the catalog says which family an add-on runs on -----------------------------------------


def test_an_addon_must_run_on_an_existing_family_of_base_licenses(catalog):
    addon = Product(sku="FTA-1Y", name_ja="ファイル転送", name_en="File transfer", kind=Product.Kind.ADDON, family="FTA")
    with pytest.raises(ValidationError) as missing:
        addon.full_clean()
    assert "base_family" in missing.value.message_dict

    addon.base_family = "NOPE"
    with pytest.raises(ValidationError, match="NOPE"):
        addon.full_clean()

    addon.base_family = "SRA"
    addon.full_clean()


def test_a_base_license_runs_on_nothing_and_a_family_holds_one_kind(catalog):
    base = Product(sku="SRA-2Y", name_ja="SRA 2年", name_en="SRA 2 years", kind=Product.Kind.BASE, family="SRA", base_family="SRA")
    with pytest.raises(ValidationError) as refused:
        base.full_clean()
    assert "base_family" in refused.value.message_dict

    mixed = Product(sku="RDA-BASE", name_ja="x", name_en="x", kind=Product.Kind.BASE, family="RDA")
    with pytest.raises(ValidationError) as refused:
        mixed.full_clean()
    assert "family" in refused.value.message_dict


def test_the_migration_gives_every_term_of_a_product_one_family():
    migration = importlib.import_module("licensing.migrations.0003_product_families")

    assert [migration.family_of(sku) for sku in ("SRA-1Y", "SRA-3Y", "RDA-1Y", "VPN-LEGACY", "X-18M")] == [
        "SRA",
        "SRA",
        "RDA",
        "VPN-LEGACY",
        "X",
    ]
