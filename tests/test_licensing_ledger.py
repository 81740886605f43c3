"""The seat ledger: seats are provisioned once per reference, derived from the ledger, never edited."""

import re
import threading
from datetime import date, timedelta

import pytest
from django.utils import timezone

from licensing import services
from licensing.models import JAPAN, LedgerEntryImmutable, LicenseKey, SeatLedgerEntry, Subscription
from licensing.selectors import customer_subscriptions, subscription_history, subscription_seats, with_seats_after
from licensing.services import (
    LedgerError,
    ReferenceConflict,
    SeatsBelowZero,
    CustomerSeats,
    SeatsRequest,
    add_months,
    license_key_revoke,
    seats_adjust,
    seats_provision_batch,
)
from tests.concurrency import run_at_once
from tests.factories import CustomerFactory
from tests.factories import provision as provision_line

pytestmark = pytest.mark.django_db

KEY_FORMAT = re.compile(r"^[2-9A-HJ-NP-Z]{4}(-[2-9A-HJ-NP-Z]{4}){4}$")


def provision(customer, product, quantity, reference, **extra):
    """One line through the ledger service: its ledger entry."""
    return provision_line(customer, product, quantity, reference, **extra).entry


def test_provisioning_the_same_reference_twice_counts_once(customer, catalog):
    first = provision(customer, catalog["SRA-1Y"], 50, "order-line:1")
    second = provision(customer, catalog["SRA-1Y"], 50, "order-line:1")

    assert second.pk == first.pk
    assert SeatLedgerEntry.objects.count() == 1
    assert subscription_seats(subscription=first.subscription) == 50


def test_first_provisioning_creates_the_subscription_for_the_products_term(customer, catalog):
    entry = provision(customer, catalog["SRA-1Y"], 10, "order-line:1", term_start=date(2026, 4, 1))

    subscription = entry.subscription
    assert (subscription.customer, subscription.product) == (customer, catalog["SRA-1Y"])
    assert (subscription.term_start, subscription.term_end) == (date(2026, 4, 1), date(2027, 3, 31))
    assert subscription.status == Subscription.Status.ACTIVE


def test_the_term_starts_today_in_japan_by_default(customer, catalog):
    entry = provision(customer, catalog["SRA-1Y"], 10, "order-line:1")

    today_in_japan = timezone.localdate(timezone=JAPAN)
    assert entry.subscription.term_start == today_in_japan
    assert entry.subscription.term_end == add_months(today_in_japan, 12) - timedelta(days=1)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 11, 15), 3, date(2027, 2, 15)),
        (date(2026, 4, 1), 36, date(2029, 4, 1)),
    ],
)
def test_adding_months_keeps_the_day_or_takes_the_months_last_day(start, months, expected):
    assert add_months(start, months) == expected


def test_more_seats_join_the_running_term(customer, catalog):
    first = provision(customer, catalog["SRA-1Y"], 10, "order-line:1", term_start=date(2026, 4, 1))
    second = provision(customer, catalog["SRA-1Y"], 5, "order-line:2", term_start=date(2026, 9, 1))

    assert second.subscription.pk == first.subscription.pk
    assert Subscription.objects.get().term_start == date(2026, 4, 1)
    assert subscription_seats(subscription=first.subscription) == 15


def test_seats_are_derived_from_the_ledger_for_every_subscription_in_two_queries(
    customer, catalog, django_assert_num_queries
):
    provision(customer, catalog["SRA-1Y"], 10, "order-line:1")
    provision(customer, catalog["SRA-1Y"], 5, "order-line:2")
    provision(customer, catalog["RDA-1Y"], 7, "order-line:3")
    provision(CustomerFactory(), catalog["SRA-1Y"], 99, "order-line:4")  # another customer's seats

    with django_assert_num_queries(2):  # subscriptions with seats, then their keys
        rows = [(s.product.sku, s.seats, len(s.active_keys)) for s in customer_subscriptions(customer=customer)]

    assert rows == [("RDA-1Y", 7, 1), ("SRA-1Y", 15, 2)]  # one key per provisioned line


def test_a_negative_adjustment_removes_seats_and_the_history_shows_the_running_count(customer, catalog):
    subscription = provision(customer, catalog["SRA-1Y"], 10, "order-line:1").subscription
    seats_adjust(subscription=subscription, quantity=-3, reference="correction:1", reason="3 seats returned")
    seats_adjust(subscription=subscription, quantity=-3, reference="correction:1", reason="3 seats returned")

    assert subscription_seats(subscription=subscription) == 7
    history = with_seats_after(list(subscription_history(subscription=subscription)))
    assert [(e.quantity, e.seats_after, e.reference) for e in history] == [(10, 10, "order-line:1"), (-3, 7, "correction:1")]


def test_an_adjustment_may_not_take_seats_below_zero(customer, catalog):
    subscription = provision(customer, catalog["SRA-1Y"], 2, "order-line:1").subscription

    with pytest.raises(SeatsBelowZero):
        seats_adjust(subscription=subscription, quantity=-3, reference="correction:1", reason="too many")

    assert subscription_seats(subscription=subscription) == 2
    assert not SeatLedgerEntry.objects.filter(reference="correction:1").exists()


def test_a_reference_reused_for_other_seats_is_refused_not_merged(customer, catalog):
    provision(customer, catalog["SRA-1Y"], 10, "order-line:1")

    with pytest.raises(ReferenceConflict):
        provision(customer, catalog["SRA-1Y"], 11, "order-line:1")
    # Refused either way: the add-on rule, which leaves the reference's own seats out, speaks first.
    with pytest.raises(LedgerError):
        provision(customer, catalog["RDA-1Y"], 10, "order-line:1")

    assert SeatLedgerEntry.objects.get().quantity == 10


def test_ledger_rows_cannot_be_updated_or_deleted(customer, catalog):
    entry = provision(customer, catalog["SRA-1Y"], 10, "order-line:1")

    entry.quantity = 1000
    with pytest.raises(LedgerEntryImmutable):
        entry.save()
    with pytest.raises(LedgerEntryImmutable):
        SeatLedgerEntry.objects.filter(pk=entry.pk).update(quantity=1000)
    with pytest.raises(LedgerEntryImmutable):
        entry.delete()
    with pytest.raises(LedgerEntryImmutable):
        SeatLedgerEntry.objects.all().delete()

    assert SeatLedgerEntry.objects.get(pk=entry.pk).quantity == 10


@pytest.mark.django_db(transaction=True)
def test_eight_workers_racing_on_one_reference_record_one_entry_and_one_key(requires_postgres, customer, catalog):
    def provision_the_line():
        provisioned = provision_line(customer, catalog["SRA-1Y"], 25, "order-line:42")
        return provisioned.entry.pk, provisioned.license_key.pk

    results = run_at_once(8, provision_the_line)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert len(set(results)) == 1  # every worker got the same entry and the same key
    assert SeatLedgerEntry.objects.count() == 1
    assert LicenseKey.objects.count() == 1
    assert subscription_seats(subscription=Subscription.objects.get()) == 25


@pytest.mark.django_db(transaction=True)
def test_eight_workers_provisioning_different_lines_share_one_new_subscription(requires_postgres, customer, catalog):
    counter = iter(range(8))
    lock = threading.Lock()

    def provision_own_line():
        with lock:
            line = next(counter)
        return provision(customer, catalog["SRA-1Y"], 10, f"order-line:{line}").subscription_id

    results = run_at_once(8, provision_own_line)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert Subscription.objects.count() == 1 and set(results) == {Subscription.objects.get().pk}
    assert subscription_seats(subscription=Subscription.objects.get()) == 80


def test_license_keys_are_readable_random_groups_and_unique(customer, catalog):
    keys = [provision_line(customer, catalog["SRA-1Y"], 1, f"order-line:{n}").license_key.key for n in range(200)]

    assert all(KEY_FORMAT.match(key) for key in keys), keys[:3]
    assert not set("01OI") & set("".join(keys))
    assert len(set(keys)) == 200


def test_provisioning_a_line_again_returns_the_same_key(customer, catalog):
    first = provision_line(customer, catalog["SRA-1Y"], 5, "order-line:1").license_key
    second = provision_line(customer, catalog["SRA-1Y"], 5, "order-line:1").license_key

    assert first.key == second.key and LicenseKey.objects.count() == 1


def test_a_drawn_key_that_already_exists_is_drawn_again(customer, catalog, monkeypatch):
    taken = provision_line(customer, catalog["SRA-1Y"], 5, "order-line:1").license_key.key
    draws = iter([taken, "ABCD-EFGH-JKLM-NPQR-STUV"])
    monkeypatch.setattr(services, "generate_license_key", lambda: next(draws))

    fresh = provision_line(customer, catalog["SRA-1Y"], 5, "order-line:2").license_key

    assert fresh.key == "ABCD-EFGH-JKLM-NPQR-STUV"


def test_revoking_a_key_twice_reports_the_second_as_no_change(customer, catalog):
    key = provision_line(customer, catalog["SRA-1Y"], 5, "order-line:1").license_key

    assert license_key_revoke(license_key=key) is True
    assert license_key_revoke(license_key=key) is False
    assert LicenseKey.objects.get().revoked_at is not None


# Provisioning all lines of an order at once -------------------------------------------


def provision_many(customer, catalog, lines, **extra):
    requests = [SeatsRequest(product=catalog[sku], quantity=quantity, reference=reference) for sku, quantity, reference in lines]
    return seats_provision_batch([CustomerSeats(customer=customer, requests=requests, **extra)])[0]


ORDER_LINES = [("SRA-1Y", 50, "order-line:1"), ("RDA-1Y", 20, "order-line:2")]


def test_provisioning_an_orders_lines_at_once_records_one_entry_and_one_key_per_line(customer, catalog):
    results = provision_many(customer, catalog, ORDER_LINES, term_start=date(2026, 4, 1))

    assert [(r.entry.subscription.product.sku, r.entry.quantity, r.entry.reference) for r in results] == ORDER_LINES
    assert all(r.license_key.reference == r.entry.reference for r in results)
    assert all(r.license_key.subscription_id == r.entry.subscription_id for r in results)
    assert all(KEY_FORMAT.match(r.license_key.key) for r in results)
    assert Subscription.objects.filter(customer=customer, term_start=date(2026, 4, 1)).count() == 2
    assert (SeatLedgerEntry.objects.count(), LicenseKey.objects.count()) == (2, 2)


def test_provisioning_the_same_lines_again_returns_the_same_rows_and_counts_nothing(customer, catalog):
    first = provision_many(customer, catalog, ORDER_LINES)
    second = provision_many(customer, catalog, ORDER_LINES)

    assert [(r.entry.pk, r.license_key.pk) for r in second] == [(r.entry.pk, r.license_key.pk) for r in first]
    assert (SeatLedgerEntry.objects.count(), LicenseKey.objects.count()) == (2, 2)
    assert sum(subscription_seats(subscription=s) for s in Subscription.objects.all()) == 70


def test_lines_half_recorded_earlier_are_completed_not_doubled(customer, catalog):
    earlier = provision(customer, catalog["SRA-1Y"], 50, "order-line:1", term_start=date(2026, 4, 1))

    results = provision_many(customer, catalog, ORDER_LINES, term_start=date(2026, 9, 1))

    assert results[0].entry.pk == earlier.pk
    assert SeatLedgerEntry.objects.count() == 2
    assert Subscription.objects.get(product=catalog["SRA-1Y"]).term_start == date(2026, 4, 1)  # joins the running term


def test_a_reference_recorded_for_other_seats_is_refused_when_provisioning_many(customer, catalog):
    provision(customer, catalog["SRA-1Y"], 10, "order-line:2")

    with pytest.raises(ReferenceConflict):
        provision_many(customer, catalog, ORDER_LINES)


@pytest.mark.parametrize(
    "lines",
    [
        [("SRA-1Y", 0, "order-line:1")],
        [("SRA-1Y", 5, "order-line:1"), ("RDA-1Y", 5, "order-line:1")],
    ],
)
def test_provisioning_many_refuses_no_seats_and_a_shared_reference(customer, catalog, lines):
    with pytest.raises(LedgerError):
        provision_many(customer, catalog, lines)
    assert not SeatLedgerEntry.objects.exists()


def test_a_drawn_key_that_already_exists_is_drawn_again_when_provisioning_many(customer, catalog, monkeypatch):
    taken = provision_many(customer, catalog, ORDER_LINES[:1])[0].license_key.key
    draws = iter([taken, "ABCD-EFGH-JKLM-NPQR-STUV"])
    monkeypatch.setattr(services, "generate_license_key", lambda: next(draws))

    result = provision_many(customer, catalog, ORDER_LINES[1:])

    assert result[0].license_key.key == "ABCD-EFGH-JKLM-NPQR-STUV"


def test_provisioning_an_orders_lines_costs_the_same_few_queries_however_many_lines(
    customer, catalog, django_assert_max_num_queries
):
    provision_many(customer, catalog, ORDER_LINES)  # the subscriptions exist now
    lines = [("SRA-1Y", 1, f"order-line:a{n}") for n in range(10)] + [("RDA-1Y", 1, f"order-line:b{n}") for n in range(10)]

    # With add-on lines: the customer locked and its seats read (the add-on rule), subscriptions,
    # insert + read entries, insert + read keys.
    with django_assert_max_num_queries(7):
        provision_many(customer, catalog, lines)

    assert SeatLedgerEntry.objects.count() == 22


@pytest.mark.django_db(transaction=True)
def test_eight_workers_provisioning_one_orders_lines_at_once_record_them_once(requires_postgres, customer, catalog):
    results = run_at_once(8, lambda: [(r.entry.pk, r.license_key.pk) for r in provision_many(customer, catalog, ORDER_LINES)])

    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({tuple(r) for r in results}) == 1
    assert (SeatLedgerEntry.objects.count(), LicenseKey.objects.count(), Subscription.objects.count()) == (2, 2, 2)
