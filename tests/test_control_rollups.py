"""The per-minute rollups count what happened to the orders, and the dashboard reads only them."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from control.models import OrderRollup
from control.rollups import COMPLETION_BOUNDS_SECONDS, floor_time, orders_rollup
from orders.models import Order, ReviewReason
from orders.services.review import order_reject
from orders.services.transitions import Actor
from tests.control_support import fixed_now, minute_ago, placed_order
from tests.factories import staff_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _short_backfill(settings):
    settings.DASHBOARD_ROLLUP_BACKFILL_DAYS = 2  # a first rollup writes two days of spans, not thirty
Status = Order.Status
MINUTE = OrderRollup.Span.MINUTE


def minute_row(now, minutes_ago) -> OrderRollup:
    return OrderRollup.objects.get(span=MINUTE, start=floor_time(now, 60) - timedelta(minutes=minutes_ago))


def test_each_minute_counts_arrivals_final_states_and_the_rules_verdict(customer):
    now = fixed_now()
    five = minute_ago(now, 5)
    placed_order(customer, created=five, status=Status.COMPLETED, changed=minute_ago(now, 2, 40))  # 2½ minutes
    placed_order(customer, created=five, status=Status.NEEDS_REVIEW, reasons=[ReviewReason.MANUAL_APPROVAL], source=Order.Source.IMPORT)
    placed_order(customer, created=five, status=Status.RECEIVED)
    placed_order(customer, created=minute_ago(now, 4), status=Status.REJECTED, changed=minute_ago(now, 2), reasons=[ReviewReason.OVER_CREDIT_LIMIT])
    placed_order(customer, created=minute_ago(now, 4), status=Status.FAILED, changed=minute_ago(now, 1))
    placed_order(customer, created=minute_ago(now, 0), status=Status.APPROVED)

    orders_rollup(now=now)

    at_five = minute_row(now, 5)
    assert (at_five.received, at_five.straight_through, at_five.held) == (3, 1, 1)
    assert at_five.by_source == {"api": {"received": 2, "completed": 0, "rejected": 0, "cancelled": 0, "failed": 0},
                                 "import": {"received": 1, "completed": 0, "rejected": 0, "cancelled": 0, "failed": 0}}  # fmt: skip
    at_two = minute_row(now, 2)
    assert (at_two.completed, at_two.rejected, at_two.cleared) == (1, 1, 2)
    bucket = next(index for index, bound in enumerate(COMPLETION_BOUNDS_SECONDS) if 150 < bound)
    assert at_two.completion_seconds[bucket] == 1 and sum(at_two.completion_seconds) == 1
    assert minute_row(now, 1).failed == 1
    current = minute_row(now, 0)
    assert (current.received, current.straight_through) == (1, 1)
    # Open at the end of each minute: 3 arrive, 2 more, 2 of them cleared, 1 more arrives.
    assert [minute_row(now, ago).open_at_end for ago in (6, 5, 4, 3, 2, 1, 0)] == [0, 3, 5, 5, 3, 3, 4]
    assert current.needs_person_at_end == 2  # the held order and the failed one
    assert current.backlog["failed"] == 1 and current.backlog["by_reason"][ReviewReason.MANUAL_APPROVAL] == 1
    assert current.totals["api"] == {"received": 5, "completed": 1, "rejected": 1, "cancelled": 0, "failed": 1}
    assert current.totals["import"]["received"] == 1


def test_five_minute_and_hour_rows_add_up_their_minutes(customer):
    now = fixed_now()
    for ago in (1, 2, 7, 8, 9):
        placed_order(customer, created=minute_ago(now, ago), status=Status.COMPLETED, changed=minute_ago(now, ago, 50))

    orders_rollup(now=now)

    minutes = OrderRollup.objects.filter(span=MINUTE)
    kept_from = minutes.order_by("start").first().start  # minute rows are kept two days, the longer spans for months
    for span in (OrderRollup.Span.FIVE_MINUTES, OrderRollup.Span.HOUR):
        for row in OrderRollup.objects.filter(span=span, start__gte=kept_from):
            inside = minutes.filter(start__gte=row.start, start__lt=row.start + timedelta(seconds=span)).order_by("start")
            assert row.received == sum(m.received for m in inside)
            assert row.completed == sum(m.completed for m in inside)
            assert row.open_at_end == inside.last().open_at_end
    assert sum(OrderRollup.objects.filter(span=OrderRollup.Span.FIVE_MINUTES).values_list("received", flat=True)) == 5


def test_an_order_committed_after_its_minute_was_rolled_up_is_counted_on_the_next_run(customer):
    now = fixed_now()
    orders_rollup(now=now)
    placed_order(customer, created=minute_ago(now, 3), status=Status.COMPLETED, changed=minute_ago(now, 3, 40))

    orders_rollup(now=now + timedelta(minutes=1))

    assert minute_row(now, 3).received == 1 and minute_row(now, 3).completed == 1
    assert minute_row(now + timedelta(minutes=1), 0).totals["api"]["received"] == 1


def test_a_verdict_given_long_after_arrival_lands_on_the_minute_the_order_arrived(customer):
    now = fixed_now()
    waiting = placed_order(customer, created=minute_ago(now, 45), status=Status.RECEIVED)
    orders_rollup(now=now)
    assert minute_row(now, 45).straight_through == 0
    Order.objects.filter(pk=waiting.pk).update(status=Status.APPROVED, status_changed_at=now)

    orders_rollup(now=now + timedelta(minutes=1))

    assert minute_row(now, 45).straight_through == 1


def test_a_failure_retried_before_the_next_rollup_still_counts_once(customer):
    now = fixed_now()
    failing = placed_order(customer, created=minute_ago(now, 2), status=Status.FAILED, changed=minute_ago(now, 1))
    orders_rollup(now=now)
    Order.objects.filter(pk=failing.pk).update(status=Status.RECEIVED, status_changed_at=now)  # a person retried it

    orders_rollup(now=now + timedelta(minutes=1))
    orders_rollup(now=now + timedelta(minutes=2))

    assert minute_row(now, 1).failed == 1
    assert minute_row(now + timedelta(minutes=2), 0).totals["api"]["failed"] == 1


def test_the_running_totals_carry_on_from_run_to_run(customer):
    now = fixed_now()
    placed_order(customer, created=now - timedelta(days=40), status=Status.COMPLETED, changed=now - timedelta(days=40))
    placed_order(customer, created=minute_ago(now, 20), status=Status.COMPLETED, changed=minute_ago(now, 19))
    orders_rollup(now=now)  # the first run counts what came before its 30 days from the orders
    placed_order(customer, created=now + timedelta(seconds=40), status=Status.RECEIVED)

    orders_rollup(now=now + timedelta(minutes=1))

    latest = OrderRollup.objects.filter(span=MINUTE).latest("start")
    assert latest.totals["api"]["received"] == 3
    assert latest.totals["api"]["completed"] == 2


def test_rollups_older_than_the_retention_are_deleted(customer, settings):
    now = fixed_now()
    OrderRollup.objects.create(span=MINUTE, start=now - timedelta(days=settings.DASHBOARD_ROLLUP_RETENTION_DAYS + 1))
    orders_rollup(now=now)
    assert not OrderRollup.objects.filter(start__lt=now - timedelta(days=settings.DASHBOARD_ROLLUP_RETENTION_DAYS)).exists()


def test_the_dashboard_reads_the_same_number_of_queries_for_ten_or_two_hundred_orders(client, customer, settings):
    settings.BACKLOG_COUNTS_CACHE_SECONDS = 0  # counted on every request, both times
    manager = staff_user("boss", "manager")
    client.force_login(manager)

    def queries_with(orders: int) -> int:
        now = fixed_now()
        for i in range(orders):
            placed_order(customer, created=now - timedelta(minutes=i % 600), status=Status.COMPLETED, changed=now - timedelta(minutes=i % 600))
        orders_rollup(now=now, since=now - timedelta(days=2))
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/dashboard/").status_code == 200
        return len(captured)

    assert queries_with(10) == queries_with(200)


# --- After a burst through the real pipeline (PostgreSQL, Redis, a real Celery worker) -------

from tests.test_pipeline import worker  # noqa: E402,F401 — the module's real worker
from tests.workers import submit, wait_for  # noqa: E402


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_rollups_count_a_burst_of_orders_through_the_real_pipeline(worker, api, outsider_api, customer):  # noqa: F811
    # Different quantities: the same lines again would be held as suspected duplicates. The
    # orders over the cap come from another customer, whose credit they do not share.
    clean = [submit(api, po_number=f"PO-BURST-{i}", lines=[{"sku": "SRA-1Y", "quantity": 10 + i}]) for i in range(24)]
    over_cap = settings.ORDER_REVIEW_MAX_QUANTITY + 1
    held = [submit(outsider_api, po_number=f"PO-BIG-{i}", lines=[{"sku": "SRA-1Y", "quantity": over_cap + i}]) for i in range(6)]

    def settled():
        done = Order.objects.filter(number__in=clean, status=Status.COMPLETED).count()
        waiting = Order.objects.filter(number__in=held, status=Status.NEEDS_REVIEW).count()
        return done == len(clean) and waiting == len(held)

    wait_for(settled, timeout=120, interval=0.5, message="the burst to complete or be held")
    desk = staff_user("desk", "order_desk")
    for number in held[:2]:
        order_reject(order=Order.objects.get(number=number), actor=Actor.staff(desk), reason="重複注文")

    orders_rollup()

    minutes = OrderRollup.objects.filter(span=MINUTE)
    assert sum(minutes.values_list("received", flat=True)) == 30
    assert sum(minutes.values_list("completed", flat=True)) == 24
    assert sum(minutes.values_list("rejected", flat=True)) == 2
    assert sum(minutes.values_list("straight_through", flat=True)) == 24
    assert sum(minutes.values_list("held", flat=True)) == 6
    assert sum(sum(row.completion_seconds) for row in minutes) == 24
    latest = minutes.latest("start")
    assert latest.open_at_end == 4 and latest.needs_person_at_end == 4
    assert latest.totals["api"] == {"received": 30, "completed": 24, "rejected": 2, "cancelled": 0, "failed": 0}
    assert latest.backlog["by_reason"][ReviewReason.QUANTITY_OVER_CAP] == 4
    hours = OrderRollup.objects.filter(span=OrderRollup.Span.HOUR)
    assert sum(hours.values_list("received", flat=True)) == 30
    assert sum(hours.values_list("completed", flat=True)) == 24
