"""Straight-through rules and the pipeline's steps, run in this process (any database, no worker)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from licensing.models import SeatLedgerEntry
from orders import rules
from orders.models import Order, ReviewReason
from orders.services.pipeline import order_advance
from orders.services.sweeper import orders_sweep, stuck_orders
from orders.services.transitions import Actor, order_transition
from tests.factories import provision, submitted_order

pytestmark = pytest.mark.django_db

SRA_AND_RDA = [("SRA-1Y", 50), ("RDA-1Y", 50)]


def place(customer, po_number="PO-1", lines=SRA_AND_RDA) -> Order:
    return submitted_order(customer, po_number=po_number, lines=lines)


def run_to_rest(order: Order) -> Order:
    """Advance step by step, as the worker would, until the order stops moving."""
    for _step in range(10):
        order = order_advance(order_id=order.pk)
        if order.status not in Order.MOVING_STATUSES:
            return order
    raise AssertionError(f"order still {order.status} after 10 steps")


def test_an_ordinary_order_has_no_review_reasons(customer, catalog):
    assert rules.order_review_reasons(order=place(customer)) == []


def test_an_inactive_product_is_flagged(customer, catalog):
    order = place(customer)
    catalog["RDA-1Y"].is_active = False
    catalog["RDA-1Y"].save()

    assert rules.unknown_or_inactive_sku(order) == [ReviewReason.INACTIVE_SKU]


def test_a_product_whose_sku_changed_is_unknown(customer, catalog):
    order = place(customer)
    catalog["SRA-1Y"].sku = "SRA-1Y-RENAMED"
    catalog["SRA-1Y"].save()

    assert rules.unknown_or_inactive_sku(order) == [ReviewReason.UNKNOWN_SKU]


def test_a_quantity_over_the_cap_is_flagged(customer, catalog, settings):
    settings.ORDER_REVIEW_MAX_QUANTITY = 50
    assert rules.quantity_over_cap(place(customer)) == []

    settings.ORDER_REVIEW_MAX_QUANTITY = 49
    assert rules.quantity_over_cap(place(customer, po_number="PO-2")) == [ReviewReason.QUANTITY_OVER_CAP]


def test_addon_seats_beyond_base_seats_are_flagged_counting_the_same_order(customer, catalog):
    assert rules.addon_exceeds_base(place(customer)) == []
    addon_only = place(customer, po_number="PO-2", lines=[("RDA-1Y", 1)])
    assert rules.addon_exceeds_base(addon_only) == [ReviewReason.ADDON_EXCEEDS_BASE]


def test_an_old_or_cancelled_twin_is_not_a_duplicate(customer, catalog, settings):
    settings.ORDER_DUPLICATE_WINDOW_HOURS = 24
    old = place(customer)
    Order.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=25))
    cancelled = place(customer, po_number="PO-2")
    order_transition(order_id=cancelled.pk, allowed_from={"received"}, to_status="cancelled", actor=Actor.system("test"), action="cancelled")

    assert rules.suspected_duplicate(place(customer, po_number="PO-3")) == []


def test_price_rule_applies_only_to_orders_made_from_a_quote(customer, catalog):
    assert rules.price_differs_from_quote(place(customer)) == []


def test_a_manual_approval_customer_is_always_reviewed(customer, catalog):
    customer.manual_approval = True
    customer.save()

    assert rules.manual_approval(place(customer)) == [ReviewReason.MANUAL_APPROVAL]


def test_review_reasons_have_labels_for_the_backlog():
    assert ReviewReason.OVER_CREDIT_LIMIT.label
    assert set(ReviewReason.values) >= {
        "UNKNOWN_SKU",
        "INACTIVE_SKU",
        "QUANTITY_OVER_CAP",
        "OVER_CREDIT_LIMIT",
        "ADDON_EXCEEDS_BASE",
        "SUSPECTED_DUPLICATE",
        "PRICE_DIFFERS_FROM_QUOTE",
        "MANUAL_APPROVAL",
    }


# --- the steps --------------------------------------------------------------------


def test_each_step_moves_the_order_once_and_a_final_order_stays_put(customer, catalog):
    order = run_to_rest(place(customer))

    assert order.status == Order.Status.COMPLETED
    assert order_advance(order_id=order.pk).status == Order.Status.COMPLETED
    assert order.events.count() == 6
    assert SeatLedgerEntry.objects.filter(subscription__customer=customer).count() == 2


def test_an_order_held_for_review_does_not_move_on_its_own(customer, catalog):
    customer.manual_approval = True
    customer.save()

    order = run_to_rest(place(customer))

    assert order.status == Order.Status.NEEDS_REVIEW
    assert order.review_reasons == [ReviewReason.MANUAL_APPROVAL]
    assert order_advance(order_id=order.pk).status == Order.Status.NEEDS_REVIEW


def test_provisioning_refused_by_the_ledger_sends_the_order_to_review_not_to_retry(customer, catalog):
    order = place(customer)
    line = order.lines.get(sku="SRA-1Y")
    # The line's reference already recorded with another quantity: the ledger refuses to count it again.
    provision(customer, line.product, 1, line.ledger_reference)

    order = run_to_rest(order)

    assert order.status == Order.Status.NEEDS_REVIEW
    assert order.review_reasons == [ReviewReason.PROVISIONING_REFUSED]
    assert SeatLedgerEntry.objects.filter(subscription__customer=customer).count() == 1  # nothing half-provisioned


def test_an_unknown_order_id_is_ignored(db):
    assert order_advance(order_id=999_999) is None


# --- the sweeper ------------------------------------------------------------------


def test_the_sweeper_picks_orders_stuck_in_a_moving_state_oldest_first(customer, catalog, settings):
    settings.ORDER_STUCK_AFTER_SECONDS = 60
    now = timezone.now()
    recent = place(customer, po_number="PO-RECENT")
    old = place(customer, po_number="PO-OLD", lines=[("SRA-1Y", 1)])
    older = place(customer, po_number="PO-OLDER", lines=[("SRA-1Y", 2)])
    waiting = place(customer, po_number="PO-WAIT", lines=[("SRA-1Y", 3)])
    Order.objects.filter(pk=old.pk).update(status_changed_at=now - timedelta(minutes=5))
    Order.objects.filter(pk=older.pk).update(status_changed_at=now - timedelta(minutes=9))
    Order.objects.filter(pk=waiting.pk).update(status="needs_review", status_changed_at=now - timedelta(hours=9))

    assert stuck_orders(now=now, limit=10) == [(older.pk, "received"), (old.pk, "received")]
    assert stuck_orders(now=now, limit=1) == [(older.pk, "received")]
    assert recent.pk not in dict(stuck_orders(now=now, limit=10))


def test_a_swept_order_is_not_swept_again_until_the_period_has_passed(customer, catalog, settings):
    settings.ORDER_STUCK_AFTER_SECONDS = 60
    now = timezone.now()
    order = place(customer)
    Order.objects.filter(pk=order.pk).update(status_changed_at=now - timedelta(minutes=5))

    assert orders_sweep(now=now) == 1
    assert orders_sweep(now=now + timedelta(seconds=30)) == 0
    assert orders_sweep(now=now + timedelta(seconds=61)) == 1
