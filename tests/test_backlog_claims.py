"""Claiming backlog orders: claim, release, lapse, and Next — race-free when many press it at once."""

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from orders.models import Order, ReviewReason
from orders.permissions import ActionRefused, NotPermitted
from orders.services import claims
from orders.services.claims import order_claim, order_claim_next, order_release
from tests.backlog_support import held_order, helper, make_staff, manager, order_desk  # noqa: F401
from tests.concurrency import run_at_once


def lapse(order: Order, settings) -> None:
    idle = timedelta(minutes=settings.BACKLOG_CLAIM_IDLE_MINUTES + 1)
    Order.objects.filter(pk=order.pk).update(claimed_at=timezone.now() - idle)


@pytest.mark.django_db
class TestClaimAndRelease:
    def test_claiming_records_who_and_when_in_the_timeline(self, customer, catalog, order_desk):
        order = order_claim(order=held_order(customer, catalog), user=order_desk)

        order.refresh_from_db()
        assert order.claimed_by == order_desk and order.claimed_at is not None
        assert order.events.filter(actor=order_desk, data__claim="claimed").count() == 1

    def test_an_order_someone_else_holds_cannot_be_claimed(self, customer, catalog, order_desk, manager):
        order = held_order(customer, catalog)
        order_claim(order=order, user=manager)

        with pytest.raises(ActionRefused, match="suzuki"):
            order_claim(order=order, user=order_desk)

    def test_a_claim_lapses_after_the_idle_time(self, customer, catalog, order_desk, manager, settings):
        order = held_order(customer, catalog)
        order_claim(order=order, user=manager)
        lapse(order, settings)

        order_claim(order=order, user=order_desk)

        order.refresh_from_db()
        assert order.claimed_by == order_desk

    def test_a_helper_cannot_claim_an_order_with_a_senior_reason(self, customer, catalog, helper):
        order = held_order(customer, catalog, reasons=[ReviewReason.OVER_CREDIT_LIMIT])

        with pytest.raises(NotPermitted):
            order_claim(order=order, user=helper)

    def test_an_order_that_left_the_backlog_cannot_be_claimed(self, customer, catalog, order_desk):
        order = held_order(customer, catalog, status=Order.Status.COMPLETED)

        with pytest.raises(ActionRefused):
            order_claim(order=order, user=order_desk)

    def test_the_claimer_releases_and_a_helper_cannot_release_a_colleagues_claim(self, customer, catalog, order_desk, helper):
        order = held_order(customer, catalog)
        order_claim(order=order, user=order_desk)

        with pytest.raises(ActionRefused):
            order_release(order=order, user=helper)
        order_release(order=order, user=order_desk)

        order.refresh_from_db()
        assert order.claimed_by is None
        assert order.events.filter(data__claim="released").count() == 1

    def test_a_manager_may_take_a_stale_desks_order_back_to_the_pile(self, customer, catalog, helper, manager):
        order = held_order(customer, catalog)
        order_claim(order=order, user=helper)

        order_release(order=order, user=manager)

        order.refresh_from_db()
        assert order.claimed_by is None


@pytest.mark.django_db
class TestTakeOver:
    def test_a_manager_takes_over_an_order_someone_else_holds_and_the_timeline_says_from_whom(self, customer, catalog, helper, manager):
        order = held_order(customer, catalog)
        order_claim(order=order, user=helper)

        claims.order_take_over(order=order, user=manager)

        order.refresh_from_db()
        assert order.claimed_by == manager
        event = order.events.get(data__claim="taken_over")
        assert event.actor == manager and event.data["from"] == helper.username

    @pytest.mark.parametrize("role", ["order_desk", "helper"])
    def test_only_a_manager_may_take_over(self, customer, catalog, manager, role):
        order = held_order(customer, catalog)
        order_claim(order=order, user=manager)

        with pytest.raises(NotPermitted):
            claims.order_take_over(order=order, user=make_staff(f"{role}-user", role))

        order.refresh_from_db()
        assert order.claimed_by == manager

    def test_an_order_that_left_the_backlog_cannot_be_taken_over(self, customer, catalog, manager):
        order = held_order(customer, catalog, status=Order.Status.COMPLETED)

        with pytest.raises(ActionRefused):
            claims.order_take_over(order=order, user=manager)


@pytest.mark.django_db
class TestNextWhileHolding:
    def test_next_returns_to_the_order_the_user_still_holds_instead_of_claiming_another(self, customer, catalog, order_desk):
        held = held_order(customer, catalog, po_number="HELD", age=timedelta(minutes=5))
        waiting = held_order(customer, catalog, po_number="OLDER", age=timedelta(hours=5))
        order_claim(order=held, user=order_desk)

        result = claims.order_next(user=order_desk)

        assert result.order == held and result.returned
        waiting.refresh_from_db()
        assert waiting.claimed_by is None
        assert Order.objects.filter(claimed_by=order_desk).count() == 1

    def test_next_on_the_held_orders_page_gives_it_back_and_claims_the_next_one(self, customer, catalog, order_desk):
        skipped = held_order(customer, catalog, po_number="SKIP", age=timedelta(hours=5))
        following = held_order(customer, catalog, po_number="NEXT", age=timedelta(hours=1))
        order_claim(order=skipped, user=order_desk)

        result = claims.order_next(user=order_desk, skip=skipped)

        assert result.order == following and not result.returned
        skipped.refresh_from_db()
        assert skipped.claimed_by is None
        assert skipped.events.filter(data__claim="released").count() == 1
        assert Order.objects.filter(claimed_by=order_desk).count() == 1

    def test_skipped_orders_come_back_once_nothing_else_is_left(self, customer, catalog, order_desk):
        first = held_order(customer, catalog, po_number="A", age=timedelta(hours=5))
        second = held_order(customer, catalog, po_number="B", age=timedelta(hours=1))

        assert claims.order_next(user=order_desk).order == first
        assert claims.order_next(user=order_desk, skip=first).order == second
        assert claims.order_next(user=order_desk, skip=second, passed_over=[first.pk]).order == first

    def test_a_lapsed_claim_is_not_held(self, customer, catalog, order_desk, settings):
        lapsed = held_order(customer, catalog, po_number="LAPSED", age=timedelta(minutes=5))
        older = held_order(customer, catalog, po_number="OLDER", age=timedelta(hours=5))
        order_claim(order=lapsed, user=order_desk)
        lapse(lapsed, settings)

        assert claims.order_next(user=order_desk).order == older


@pytest.fixture(params=["native", "compare_and_set"])
def claim_next(request):
    """Next as the database would run it, and the SQLite compare-and-set fallback on any database."""
    if request.param == "native":
        return order_claim_next
    return lambda *, user: claims._claim_next_compare_and_set(user)


@pytest.mark.django_db
class TestNext:
    def test_next_claims_the_oldest_unclaimed_order(self, customer, catalog, order_desk, manager, claim_next):
        oldest = held_order(customer, catalog, po_number="A", age=timedelta(hours=3))
        claimed = held_order(customer, catalog, po_number="B", age=timedelta(hours=5))
        held_order(customer, catalog, po_number="C", age=timedelta(hours=1))
        order_claim(order=claimed, user=manager)

        assert claim_next(user=order_desk) == oldest

    def test_next_takes_an_order_whose_claim_lapsed(self, customer, catalog, order_desk, manager, settings, claim_next):
        order = held_order(customer, catalog)
        order_claim(order=order, user=manager)
        lapse(order, settings)

        assert claim_next(user=order_desk) == order

    def test_next_includes_failed_and_stuck_orders_but_not_moving_or_final_ones(self, customer, catalog, order_desk, settings, claim_next):
        stuck_for = timedelta(seconds=settings.ORDER_STUCK_AFTER_SECONDS + 60)
        failed = held_order(customer, catalog, po_number="F", status=Order.Status.FAILED, reasons=[], age=timedelta(hours=2))
        stuck = held_order(customer, catalog, po_number="S", status=Order.Status.PROVISIONING, reasons=[], age=stuck_for)
        held_order(customer, catalog, po_number="M", status=Order.Status.PROVISIONING, reasons=[], age=timedelta(seconds=5))
        held_order(customer, catalog, po_number="D", status=Order.Status.COMPLETED, reasons=[], age=timedelta(days=2))

        got = {claim_next(user=order_desk), claim_next(user=order_desk), claim_next(user=order_desk)}

        assert got == {failed, stuck, None}

    def test_next_says_nothing_left_when_everything_is_claimed(self, customer, catalog, order_desk, manager, claim_next):
        order_claim(order=held_order(customer, catalog), user=manager)

        assert claim_next(user=order_desk) is None


def _ten_orders_and_twenty_people(customer, catalog):
    orders = [held_order(customer, catalog, po_number=f"PO-RACE-{i}", age=timedelta(minutes=60 - i)) for i in range(10)]
    people = [make_staff(f"desk{i}", "order_desk") for i in range(20)]
    return orders, people


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("claim_next", [order_claim_next, lambda *, user: claims._claim_next_compare_and_set(user)], ids=["skip_locked", "compare_and_set"])
def test_twenty_people_pressing_next_at_once_get_ten_distinct_orders(requires_postgres, customer, catalog, claim_next):
    orders, people = _ten_orders_and_twenty_people(customer, catalog)
    turn = iter(people)
    lock = threading.Lock()

    def press_next():
        with lock:
            user = next(turn)
        order = claim_next(user=user)
        return (user.pk, order.pk if order else None)

    results = run_at_once(20, press_next)

    assert not [r for r in results if isinstance(r, Exception)], results
    claimed = [order_id for _user, order_id in results if order_id is not None]
    assert len(claimed) == 10 and len(set(claimed)) == 10, "an order was claimed twice"
    assert sum(1 for _user, order_id in results if order_id is None) == 10
    assert set(claimed) == {order.pk for order in orders}
    for user_id, order_id in results:
        if order_id is not None:
            assert Order.objects.get(pk=order_id).claimed_by_id == user_id
    # One claim event per order: nobody's claim was silently overwritten.
    for order in orders:
        assert order.events.filter(data__claim="next").count() == 1


@pytest.mark.django_db(transaction=True)
def test_control_without_the_lock_the_same_order_is_claimed_twice(requires_postgres, customer, catalog):
    """The race the lock prevents: read the oldest unclaimed order, then claim it, with nothing in between holding it."""
    _orders, people = _ten_orders_and_twenty_people(customer, catalog)
    turn = iter(people)
    lock = threading.Lock()
    everyone_has_read = threading.Barrier(20)

    def naive_next():
        with lock:
            user = next(turn)
        order = Order.objects.filter(claimed_by__isnull=True).order_by("created_at").first()
        everyone_has_read.wait(timeout=30)
        Order.objects.filter(pk=order.pk).update(claimed_by=user, claimed_at=timezone.now())
        return order.pk

    results = run_at_once(20, naive_next)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert len(set(results)) < len(results), "expected double claims without the lock"
