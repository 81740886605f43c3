"""The pipeline's steps for batches of orders, run in this process (any database, no worker).

A batch must decide exactly what one order at a time would, move each order
once, keep one order's problem to that order, and cost the same number of
statements whatever its size. New orders do not publish a message each: a
burst of them publishes one gather message, and no new order is left without
a message that will find it.
"""

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from licensing.models import SeatLedgerEntry
from orders.models import Order, OrderDocument, ReviewReason
from orders.services import documents
from orders.services import pipeline
from orders.services.pipeline import orders_advance, orders_gather_received
from orders.services.queueing import enqueue_new_order
from orders.tasks import gather_received_orders
from tests.concurrency import run_at_once
from tests.conftest import GATHER, take_published
from tests.factories import CustomerFactory, provision, submitted_order
from tests.workers import publishing_to

pytestmark = pytest.mark.django_db

Status = Order.Status


def place(customer, po_number: str, quantities=(50, 50)) -> Order:
    base, addon = quantities
    lines = [("SRA-1Y", base)]
    if addon:
        lines.append(("RDA-1Y", addon))
    return submitted_order(customer, po_number=po_number, lines=lines)


def statuses(orders) -> dict[str, str]:
    return dict(Order.objects.filter(pk__in=[order.pk for order in orders]).values_list("po_number", "status"))


def run_batch_to_rest(orders) -> None:
    """Advance the batch step by step, as the workers would, until no order is moving."""
    order_ids = [order.pk for order in orders]
    for _step in range(10):
        if not Order.objects.filter(pk__in=order_ids, status__in=Order.MOVING_STATUSES).exists():
            return
        orders_advance(order_ids=order_ids)
    raise AssertionError("orders still moving after 10 steps")


def a_day_of_orders(group: str) -> dict[str, Order]:
    """The same orders for a group of customers of its own: plain, twins, over the cap, add-on heavy, manual, credit."""
    owner = CustomerFactory(code=f"{group}-OWNER")
    careful = CustomerFactory(code=f"{group}-CAREFUL", manual_approval=True)
    small = CustomerFactory(code=f"{group}-SMALL", credit_limit=100_000)
    return {
        "plain": place(owner, "PO-PLAIN", (10, 5)),
        "twin-1": place(owner, "PO-TWIN-1"),
        "twin-2": place(owner, "PO-TWIN-2"),  # the same lines as PO-TWIN-1, minutes later
        "big": place(owner, "PO-BIG", (600, 0)),
        "addon": place(owner, "PO-ADDON", (1, 20)),
        "careful": place(careful, "PO-CAREFUL", (1, 1)),
        "small-1": place(small, "PO-SMALL-1", (10, 0)),  # ¥66,000 with tax: within the limit alone
        "small-2": place(small, "PO-SMALL-2", (11, 0)),  # ¥72,600: over ¥100,000 once the first is approved
    }


def test_a_batch_reaches_the_same_review_reasons_as_one_order_at_a_time(catalog, settings):
    settings.ORDER_REVIEW_MAX_QUANTITY = 500
    alone = a_day_of_orders("ALONE")
    for order in alone.values():
        orders_advance(order_ids=[order.pk], status=Status.RECEIVED)
    batch = a_day_of_orders("BATCH")

    orders_advance(order_ids=[order.pk for order in batch.values()], status=Status.RECEIVED)

    def reasons(orders):
        return {label: Order.objects.get(pk=order.pk).review_reasons for label, order in orders.items()}

    one_at_a_time = reasons(alone)
    assert one_at_a_time["plain"] == [] and one_at_a_time["twin-1"] == []
    assert one_at_a_time["twin-2"] == [ReviewReason.SUSPECTED_DUPLICATE]
    assert ReviewReason.QUANTITY_OVER_CAP in one_at_a_time["big"]
    assert ReviewReason.ADDON_EXCEEDS_BASE in one_at_a_time["addon"]
    assert one_at_a_time["careful"] == [ReviewReason.MANUAL_APPROVAL]
    assert (one_at_a_time["small-1"], one_at_a_time["small-2"]) == ([], [ReviewReason.OVER_CREDIT_LIMIT])
    assert reasons(batch) == one_at_a_time
    assert set(statuses(batch.values()).values()) == {Status.VALIDATED}


def test_a_gather_takes_the_oldest_waiting_new_orders_up_to_the_batch_size(customer, catalog, settings):
    settings.ORDER_PIPELINE_BATCH_SIZE = 3
    orders = [place(customer, f"PO-{index}", (index + 1, 0)) for index in range(5)]

    orders_gather_received()

    assert statuses(orders) == {
        "PO-0": Status.VALIDATED,
        "PO-1": Status.VALIDATED,
        "PO-2": Status.VALIDATED,
        "PO-3": Status.RECEIVED,
        "PO-4": Status.RECEIVED,
    }


def test_an_unexpected_error_in_one_gathered_order_fails_only_that_order(customer, catalog, monkeypatch):
    orders = [place(customer, f"PO-{index}", (index + 1, 0)) for index in range(3)]
    broken = orders[1]
    real_reasons = pipeline.order_review_reasons

    def reasons_breaking_for_one_order(*, order):
        if order.pk == broken.pk:
            raise ZeroDivisionError("a bug that only this order meets")
        return real_reasons(order=order)

    monkeypatch.setattr(pipeline, "order_review_reasons", reasons_breaking_for_one_order)

    orders_gather_received()

    assert statuses(orders) == {"PO-0": Status.VALIDATED, "PO-1": Status.FAILED, "PO-2": Status.VALIDATED}


def test_a_message_for_orders_that_have_moved_on_does_nothing(customer, catalog):
    order = place(customer, "PO-1")
    orders_advance(order_ids=[order.pk], status=Status.RECEIVED)

    orders_advance(order_ids=[order.pk], status=Status.RECEIVED)  # delivered again, late

    assert Order.objects.get(pk=order.pk).status == Status.VALIDATED
    assert order.events.count() == 2


def test_a_batch_completes_with_each_order_moved_once_seats_counted_once_and_one_pdf_each(customer, catalog):
    orders = [place(customer, f"PO-{index}", (index + 1, index + 1)) for index in range(4)]

    run_batch_to_rest(orders)
    orders_advance(order_ids=[order.pk for order in orders])  # a late copy of the last message

    assert set(statuses(orders).values()) == {Status.COMPLETED}
    for order in orders:
        assert [event.to_status for event in order.events.order_by("pk")] == [
            "received", "validated", "approved", "provisioning", "documenting", "completed",
        ]  # fmt: skip
    assert SeatLedgerEntry.objects.filter(subscription__customer=customer).count() == 8
    seats = sorted(SeatLedgerEntry.objects.filter(subscription__product=catalog["SRA-1Y"]).values_list("quantity", flat=True))
    assert seats == [1, 2, 3, 4]
    assert OrderDocument.objects.filter(order__in=orders, kind=OrderDocument.Kind.QUOTE).count() == 4


def test_seats_the_ledger_refuses_for_one_order_of_a_batch_hold_only_that_order(customer, catalog):
    orders = [place(customer, f"PO-{index}", (index + 1, index + 1)) for index in range(3)]
    refused = orders[1]
    line = refused.lines.get(sku="SRA-1Y")
    provision(customer, line.product, 99, line.ledger_reference)

    run_batch_to_rest(orders)

    assert statuses(orders) == {"PO-0": Status.COMPLETED, "PO-1": Status.NEEDS_REVIEW, "PO-2": Status.COMPLETED}
    assert Order.objects.get(pk=refused.pk).review_reasons == [ReviewReason.PROVISIONING_REFUSED]
    assert not SeatLedgerEntry.objects.filter(reference=refused.lines.get(sku="RDA-1Y").ledger_reference).exists()


def test_an_unexpected_error_in_one_order_of_a_batch_fails_only_that_order(customer, catalog, monkeypatch):
    orders = [place(customer, f"PO-{index}", (index + 1, 0)) for index in range(3)]
    broken = orders[2]
    real_document = documents.order_quote_document

    def document_breaking_for_one_order(*, order, **kwargs):
        if order.pk == broken.pk:
            raise ZeroDivisionError("a bug that only this order meets")
        return real_document(order=order, **kwargs)

    monkeypatch.setattr(documents, "order_quote_document", document_breaking_for_one_order)

    run_batch_to_rest(orders)

    assert statuses(orders) == {"PO-0": Status.COMPLETED, "PO-1": Status.COMPLETED, "PO-2": Status.FAILED}
    assert "ZeroDivisionError" in Order.objects.get(pk=broken.pk).status_reason


def queries_per_step(orders) -> list[int]:
    counts = []
    order_ids = [order.pk for order in orders]
    while Order.objects.filter(pk__in=order_ids, status__in=Order.MOVING_STATUSES).exists():
        with CaptureQueriesContext(connection) as queries:
            orders_advance(order_ids=order_ids)
        counts.append(len(queries))
    return counts


def test_the_statements_of_a_step_do_not_grow_with_the_number_of_orders(catalog):
    two = [place(CustomerFactory(code=f"TWO-{index}"), "PO-1") for index in range(2)]
    eight = [place(CustomerFactory(code=f"EIGHT-{index}"), "PO-1") for index in range(8)]

    assert queries_per_step(two) == queries_per_step(eight)
    assert set(statuses(two + eight).values()) == {Status.COMPLETED}


def events_per_order(orders) -> dict[str, int]:
    return {order.po_number: order.events.count() for order in orders}


def lock_timeouts_in_the_gather(monkeypatch, times: int) -> list[int]:
    """The gather's query fails with a lock timeout `times` times, then works; the attempts, counted."""
    real_locked_waiting = pipeline._locked_waiting
    attempts = []

    def locked_waiting_after_lock_timeouts(**kwargs):
        attempts.append(1)
        if len(attempts) <= times:
            raise OperationalError("canceling statement due to lock timeout")
        return real_locked_waiting(**kwargs)

    monkeypatch.setattr(pipeline, "_locked_waiting", locked_waiting_after_lock_timeouts)
    return attempts


def test_a_gather_hit_by_a_transient_error_is_retried(customer, catalog, monkeypatch):
    orders = [place(customer, f"PO-{index}", (index + 1, 0)) for index in range(2)]
    lock_timeouts_in_the_gather(monkeypatch, times=2)

    gather_received_orders.apply()

    assert set(statuses(orders).values()) == {Status.VALIDATED}


def test_a_gather_that_gives_up_leaves_the_new_orders_waiting_for_the_sweeper(customer, catalog, monkeypatch):
    orders = [place(customer, f"PO-{index}", (index + 1, 0)) for index in range(2)]
    attempts = lock_timeouts_in_the_gather(monkeypatch, times=100)

    gather_received_orders.apply()

    assert len(attempts) == gather_received_orders.max_retries + 1
    assert set(statuses(orders).values()) == {Status.RECEIVED}


@pytest.mark.django_db(transaction=True)
def test_gathers_racing_each_other_move_every_order_once(requires_postgres, customer, catalog, settings):
    settings.ORDER_PIPELINE_BATCH_SIZE = 10
    orders = [place(customer, f"PO-{index}", (index + 1, 0)) for index in range(30)]

    results = run_at_once(8, orders_gather_received)

    assert not [result for result in results if isinstance(result, Exception)], results
    moved = [order.pk for result in results for order in result]
    assert len(moved) == len(set(moved)), "an order was in two batches"
    assert len(moved) == 30  # SKIP LOCKED: each gather took orders the others did not hold
    assert set(statuses(orders).values()) == {Status.VALIDATED}
    assert set(events_per_order(orders).values()) == {2}


@pytest.mark.django_db(transaction=True)
def test_the_same_batch_delivered_twice_at_once_moves_each_order_once(requires_postgres, customer, catalog):
    orders = [place(customer, f"PO-{index}", (index + 1, index + 1)) for index in range(5)]
    order_ids = [order.pk for order in orders]
    orders_advance(order_ids=order_ids, status=Status.RECEIVED)
    orders_advance(order_ids=order_ids, status=Status.VALIDATED)
    orders_advance(order_ids=order_ids, status=Status.APPROVED)

    results = run_at_once(2, lambda: orders_advance(order_ids=order_ids, status=Status.PROVISIONING))

    assert not [result for result in results if isinstance(result, Exception)], results
    assert set(statuses(orders).values()) == {Status.DOCUMENTING}
    assert set(events_per_order(orders).values()) == {5}
    assert SeatLedgerEntry.objects.filter(subscription__customer=customer).count() == 10


# New orders and the gather message --------------------------------------------------

UNREACHABLE_BROKER = "redis://127.0.0.1:9/0"


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Orders placed inside `with committed():` have committed at its end, and their on_commit callbacks have run."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def test_new_orders_placed_while_no_worker_runs_publish_one_gather_and_it_takes_them(
    customer, catalog, shared_cache, committed, settings
):
    settings.ORDER_PIPELINE_BATCH_SIZE = 3
    with committed():
        orders = [place(customer, f"PO-{index}", (index + 1, 0)) for index in range(5)]
    assert take_published() == [GATHER]

    with committed():
        orders_gather_received()

    assert list(statuses(orders).values()).count(Status.VALIDATED) == 3
    assert GATHER in take_published(), "a full batch publishes the next gather for the orders beyond it"

    with committed():
        orders_gather_received()

    assert set(statuses(orders).values()) == {Status.VALIDATED}
    assert GATHER not in take_published(), "a batch that was not full publishes no further gather"
    with committed():
        place(customer, "PO-LATER")
    assert take_published() == [GATHER], "the next new order publishes again"


@pytest.mark.parametrize("moment", ["before", "after"])
def test_an_order_committed_after_the_gather_cleared_its_key_is_gathered(
    customer, catalog, shared_cache, committed, monkeypatch, moment
):
    """Between the gather's clearing of the pending key and its query, or after the query: the order is never stranded."""
    with committed():
        first = place(customer, "PO-FIRST", (1, 0))
    assert take_published() == [GATHER]
    real_locked_waiting = pipeline._locked_waiting
    late = []

    def a_new_order_commits_as_the_gather_looks(**kwargs):
        if moment == "before":
            with committed():
                late.append(place(customer, "PO-LATE", (2, 0)))
        orders = real_locked_waiting(**kwargs)
        if moment == "after":
            with committed():
                late.append(place(customer, "PO-LATE", (2, 0)))
        return orders

    monkeypatch.setattr(pipeline, "_locked_waiting", a_new_order_commits_as_the_gather_looks)
    with committed():
        orders_gather_received()
    monkeypatch.undo()
    for _delivery in range(3):  # each gather message published, delivered
        if GATHER not in take_published():
            break
        with committed():
            orders_gather_received()

    assert statuses([first, *late]) == {"PO-FIRST": Status.VALIDATED, "PO-LATE": Status.VALIDATED}


def test_a_failed_publish_clears_the_key_so_that_the_next_new_order_publishes(
    customer, catalog, shared_cache, committed, caplog
):
    with publishing_to(UNREACHABLE_BROKER):
        order = place(customer, "PO-1", (1, 0))
        assert enqueue_new_order(order.pk) is False
    assert f"new order {order.pk} waits" in caplog.text

    with committed():
        place(customer, "PO-2", (2, 0))

    assert take_published() == [GATHER]


@pytest.mark.parametrize("dedup_off", ["a per-process cache", "ORDER_GATHER_DEDUP_SECONDS=0"])
def test_without_a_shared_dedup_key_every_new_order_publishes(customer, catalog, shared_cache, committed, settings, dedup_off):
    if dedup_off == "a per-process cache":
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    else:
        settings.ORDER_GATHER_DEDUP_SECONDS = 0

    with committed():
        for index in range(3):
            place(customer, f"PO-{index}", (index + 1, 0))

    assert take_published() == [GATHER] * 3
