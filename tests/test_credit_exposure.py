"""A customer's credit exposure, the credit rule that reads it, and the release of credit holds once a person decides."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from orders import rules
from orders.credit import credit_exposure, unpaid_since
from orders.models import Order, ReviewReason
from orders.services.review import order_approve
from orders.services.transitions import Actor
from tests.backlog_support import held_order, order_desk  # noqa: F401
from tests.factories import OrderFactory, submitted_order
from tests.test_order_rules import run_to_rest

pytestmark = pytest.mark.django_db

JAPAN = ZoneInfo("Asia/Tokyo")
UTC = ZoneInfo("UTC")
Status = Order.Status
# 2026-12-01 01:00 in Japan is still 30 November in UTC.
EARLY_DECEMBER_IN_JAPAN = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)


def order_of(customer, *, status, total, changed_at=None, reasons=()):
    changed_at = changed_at or EARLY_DECEMBER_IN_JAPAN - timedelta(hours=1)
    return OrderFactory(
        customer=customer, status=status, total=total, review_reasons=list(reasons), status_changed_at=changed_at, created_at=changed_at
    )


@pytest.mark.parametrize(
    ("status", "reasons", "counted_as"),
    [
        (Status.RECEIVED, [], None),  # not judged yet
        (Status.VALIDATED, [], "committed"),  # cleared by the rules: approved at the next step
        (Status.VALIDATED, [ReviewReason.MANUAL_APPROVAL], None),  # about to wait for a person
        (Status.NEEDS_REVIEW, [ReviewReason.QUANTITY_OVER_CAP], None),  # waiting for a person
        (Status.APPROVED, [], "committed"),
        (Status.PROVISIONING, [], "committed"),
        (Status.DOCUMENTING, [], "committed"),
        (Status.COMPLETED, [], "unpaid"),  # completed inside the payment terms
        (Status.FAILED, [], None),
        (Status.REJECTED, [], None),
        (Status.CANCELLED, [], None),
    ],
)
def test_each_status_counts_in_the_exposure_or_not(customer, status, reasons, counted_as):
    order_of(customer, status=status, total=1_000_000, reasons=reasons)

    exposure = credit_exposure(customer=customer, now=EARLY_DECEMBER_IN_JAPAN)

    assert (exposure.committed, exposure.unpaid) == {
        "committed": (1_000_000, 0),
        "unpaid": (0, 1_000_000),
        None: (0, 0),
    }[counted_as]


def test_the_order_being_judged_counts_once(customer):
    order_of(customer, status=Status.APPROVED, total=300_000)
    approved = order_of(customer, status=Status.APPROVED, total=200_000)
    held = order_of(customer, status=Status.NEEDS_REVIEW, total=1_000_000, reasons=[ReviewReason.OVER_CREDIT_LIMIT])

    assert credit_exposure(customer=customer, order=held).total == 1_500_000
    assert credit_exposure(customer=customer, order=approved).total == 500_000


def test_other_customers_orders_do_not_count(customer, other_customer):
    order_of(other_customer, status=Status.APPROVED, total=9_000_000)

    assert credit_exposure(customer=customer).total == 0


def test_the_payment_terms_window_starts_on_the_first_of_the_previous_month_in_japan_time(customer):
    # 月末締め翌月末払い: on 1 December (Japan) October's orders are paid, November's are not.
    last_minute_of_october = datetime(2026, 10, 31, 23, 59, tzinfo=JAPAN)
    first_minute_of_november = datetime(2026, 11, 1, 0, 0, tzinfo=JAPAN)  # 31 October 15:00 in UTC
    order_of(customer, status=Status.COMPLETED, total=100, changed_at=last_minute_of_october)
    order_of(customer, status=Status.COMPLETED, total=20_000, changed_at=first_minute_of_november)

    assert unpaid_since(EARLY_DECEMBER_IN_JAPAN) == first_minute_of_november
    assert credit_exposure(customer=customer, now=EARLY_DECEMBER_IN_JAPAN).unpaid == 20_000
    # An hour earlier it is still 30 November in Japan: October's order is not paid yet.
    late_november = EARLY_DECEMBER_IN_JAPAN - timedelta(hours=2)
    assert unpaid_since(late_november) == datetime(2026, 10, 1, tzinfo=JAPAN)
    assert credit_exposure(customer=customer, now=late_november).unpaid == 20_100


@pytest.mark.parametrize(("months", "since"), [(0, datetime(2026, 12, 1, tzinfo=JAPAN)), (2, datetime(2026, 10, 1, tzinfo=JAPAN))])
def test_the_payment_terms_are_a_setting(settings, months, since):
    settings.ORDER_CREDIT_TERMS_MONTHS = months

    assert unpaid_since(EARLY_DECEMBER_IN_JAPAN) == since


def test_the_window_crosses_the_year(settings):
    assert unpaid_since(datetime(2027, 1, 15, 12, 0, tzinfo=JAPAN)) == datetime(2026, 12, 1, tzinfo=JAPAN)


# --- the rule -----------------------------------------------------------------------------


def place(customer, po_number, quantity) -> Order:
    return submitted_order(customer, po_number=po_number, lines=[("SRA-1Y", quantity)])


def test_an_anomalous_order_held_for_review_does_not_push_the_customers_next_orders_over_the_limit(customer, catalog):
    customer.credit_limit = 5_000_000
    customer.save()
    anomaly = run_to_rest(place(customer, "PO-HUGE", 6_000))  # ¥27,720,000: over the cap and the limit

    ordinary = [run_to_rest(place(customer, f"PO-{n}", 100 + n)) for n in range(3)]  # about ¥530,000 each

    assert anomaly.status == Status.NEEDS_REVIEW
    assert set(anomaly.review_reasons) == {ReviewReason.QUANTITY_OVER_CAP, ReviewReason.OVER_CREDIT_LIMIT}
    assert [order.status for order in ordinary] == [Status.COMPLETED] * 3


def test_approved_and_unpaid_orders_with_this_one_over_the_limit_hold_it(customer, catalog):
    customer.credit_limit = 1_000_000
    customer.save()
    order_of(customer, status=Status.APPROVED, total=400_000)
    order_of(customer, status=Status.COMPLETED, total=400_000)

    fits = place(customer, "PO-FITS", 30)  # ¥198,000
    too_much = place(customer, "PO-OVER", 40)  # ¥264,000

    assert rules.over_credit_limit(fits) == []
    assert rules.over_credit_limit(too_much) == [ReviewReason.OVER_CREDIT_LIMIT]


# --- release of credit holds -------------------------------------------------------------------


def test_approving_a_held_order_releases_the_customers_credit_only_holds_that_now_fit(
    customer, catalog, order_desk, django_capture_on_commit_callbacks
):
    credit = [ReviewReason.OVER_CREDIT_LIMIT]
    first = held_order(customer, catalog, reasons=credit, lines=[("SRA-1Y", 100)], age=timedelta(minutes=30))  # ¥528,000
    fits = held_order(customer, catalog, reasons=credit, lines=[("SRA-1Y", 50)], age=timedelta(minutes=20))  # ¥297,000
    too_big = held_order(customer, catalog, reasons=credit, lines=[("SRA-1Y", 200)], age=timedelta(minutes=15))  # ¥1,056,000
    small = held_order(customer, catalog, reasons=credit, lines=[("SRA-1Y", 10)], age=timedelta(minutes=10))  # ¥66,000
    also_manual = held_order(customer, catalog, reasons=[*credit, ReviewReason.MANUAL_APPROVAL], lines=[("SRA-1Y", 1)])
    # Finance raised the limit to make room for the first order and a little more.
    customer.credit_limit = 900_000
    customer.save()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order_approve(order=first, actor=Actor.staff(order_desk), override_reason="与信枠を90万円に変更済み")

    def status(order):
        return Order.objects.get(pk=order.pk).status

    assert status(first) == Status.APPROVED
    assert (status(fits), status(small)) == (Status.APPROVED, Status.APPROVED)  # ¥528,000 + ¥297,000 + ¥66,000 ≤ ¥900,000
    assert status(too_big) == Status.NEEDS_REVIEW
    assert status(also_manual) == Status.NEEDS_REVIEW  # waits for a person on its other reason
    assert len(callbacks) == 3  # the approved order and the two released ones go to the pipeline
    event = Order.objects.get(pk=fits.pk).events.get(to_status=Status.APPROVED)
    assert event.actor_label == "credit-recheck" and event.actor is None
    assert event.data["note"] == "credit_release" and event.data["after"] == first.number
    assert (event.data["exposure"], event.data["limit"]) == (528_000 + 297_000, 900_000)
    assert first.number in event.reason and "staff:tanaka" in event.reason


def test_nothing_is_released_while_the_holds_still_do_not_fit(customer, catalog, order_desk):
    customer.credit_limit = 500_000
    customer.save()
    first = held_order(customer, catalog, reasons=[ReviewReason.OVER_CREDIT_LIMIT], lines=[("SRA-1Y", 100)])
    second = held_order(customer, catalog, reasons=[ReviewReason.OVER_CREDIT_LIMIT], lines=[("SRA-1Y", 10)])

    order_approve(order=first, actor=Actor.staff(order_desk), override_reason="部長承認")

    assert Order.objects.get(pk=second.pk).status == Status.NEEDS_REVIEW
    assert not Order.objects.get(pk=second.pk).events.filter(data__note="credit_release").exists()
