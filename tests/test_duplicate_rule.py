"""The duplicate rule: true resubmissions wait for a person, a customer ordering the same seats again does not."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orders import rules
from orders.duplicates import normalize_po_number
from orders.models import Order, ReviewReason
from orders.services.pipeline import order_advance
from orders.services.transitions import Actor, order_transition
from tests.factories import submitted_order

pytestmark = pytest.mark.django_db

LINES = [("SRA-1Y", 50), ("RDA-1Y", 20)]


def place(customer, po_number, lines=LINES, minutes_ago=0) -> Order:
    order = submitted_order(customer, po_number=po_number, lines=lines)
    if minutes_ago:
        Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(minutes=minutes_ago))
        order.refresh_from_db()
    return order


def validate(order: Order) -> Order:
    return order_advance(order_id=order.pk)


@pytest.mark.parametrize(
    "resubmitted_as",
    [
        "po-2026-0412",  # case
        "ＰＯ－２０２６－０４１２",  # full-width
        "PO 2026 0412",  # spacing
        " PO-2026- 0412 ",
        "PO‐2026‐0412",  # another dash
        "PO-2026-0412-R1",  # trailing revision marks
        "PO-2026-0412 Rev.2",
        "PO-2026-0412_v3",
        "PO-2026-0412 (2)",
        "PO-2026-0412（再送）",
        "PO-2026-0412改訂2",
        "PO-2026-0412 第2版",
        "ｐｏ－２０２６－０４１２－ｒｅｖ２",  # all of it at once
    ],
)
def test_the_same_lines_under_the_same_po_number_in_another_form_are_held_hours_later(customer, catalog, resubmitted_as):
    place(customer, "PO-2026-0412", minutes_ago=180)

    resubmission = place(customer, resubmitted_as)

    assert rules.suspected_duplicate(resubmission) == [ReviewReason.SUSPECTED_DUPLICATE]


def test_the_same_lines_within_minutes_are_held_whatever_the_po_number(customer, catalog, settings):
    settings.ORDER_DUPLICATE_SAME_LINES_MINUTES = 10
    place(customer, "PO-A-100", minutes_ago=9)

    assert rules.suspected_duplicate(place(customer, "PO-B-777")) == [ReviewReason.SUSPECTED_DUPLICATE]


def test_a_repeat_order_under_a_clearly_different_po_passes_with_a_note_on_both_timelines(customer, catalog, settings):
    settings.ORDER_DUPLICATE_SAME_LINES_MINUTES = 10
    first = validate(place(customer, "PO-2026-0412", minutes_ago=120))

    repeat = validate(place(customer, "PO-2026-0530"))

    assert repeat.review_reasons == [] and repeat.status == Order.Status.VALIDATED
    note = repeat.events.get(data__note="repeat_of")
    assert (note.data["number"], note.data["po_number"]) == (first.number, "PO-2026-0412")
    back = first.events.get(data__note="repeated_by")
    assert (back.data["number"], back.data["po_number"]) == (repeat.number, "PO-2026-0530")
    assert not repeat.possible_duplicates.exists()


def test_the_short_window_is_a_setting(customer, catalog, settings):
    settings.ORDER_DUPLICATE_SAME_LINES_MINUTES = 0
    place(customer, "PO-A-100", minutes_ago=1)

    assert rules.suspected_duplicate(place(customer, "PO-B-777")) == []


def test_only_the_later_order_of_a_pair_waits_and_both_are_linked(customer, catalog):
    first = place(customer, "PO-2026-0412")
    again = place(customer, "po-2026-0412 rev2")

    first, again = validate(first), validate(again)

    assert first.review_reasons == [] and again.review_reasons == [ReviewReason.SUSPECTED_DUPLICATE]
    assert list(again.possible_duplicates.all()) == [first]
    assert list(first.possible_duplicates.all()) == [again]


@pytest.mark.parametrize(
    ("earlier_po", "earlier_lines", "minutes_ago"),
    [
        ("PO-2026-0412", [("SRA-1Y", 50)], 1),  # other lines
        ("PO-2026-0412", [("SRA-1Y", 50), ("RDA-1Y", 21)], 1),  # other quantity
        ("PO-2026-0412", LINES, 25 * 60),  # outside the window
    ],
)
def test_orders_that_are_not_resubmissions_pass(customer, catalog, settings, earlier_po, earlier_lines, minutes_ago):
    settings.ORDER_DUPLICATE_WINDOW_HOURS = 24
    place(customer, earlier_po, lines=earlier_lines, minutes_ago=minutes_ago)

    assert rules.suspected_duplicate(place(customer, "po-2026-0412-r1")) == []


def test_a_cancelled_or_another_customers_twin_is_not_a_duplicate(customer, other_customer, catalog):
    cancelled = place(customer, "PO-2026-0412", minutes_ago=1)
    order_transition(order_id=cancelled.pk, allowed_from={"received"}, to_status="cancelled", actor=Actor.system("test"), action="cancelled")
    place(other_customer, "PO-2026-0412-X", minutes_ago=1)

    assert rules.suspected_duplicate(place(customer, "PO-2026-0412-R1")) == []


@pytest.mark.parametrize(
    ("one", "other"),
    [("ORDER12", "ORDER13"), ("FEVER2", "FEVER3"), ("PO-2026-0412", "PO-2026-0413"), ("PO-12-2", "PO-12-3"), ("ABC/1", "ABC/2")],
)
def test_numbers_that_differ_in_substance_stay_different(one, other):
    assert normalize_po_number(one) != normalize_po_number(other)
