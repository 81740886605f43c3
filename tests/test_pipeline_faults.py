"""Fault tests: workers killed, the broker down or emptied, messages delivered twice.

Each asserts that nothing is lost (every order completes) and nothing is
counted twice (one ledger entry and one key per order line, seats equal to
what was ordered). Real workers, real PostgreSQL, real Redis: the broker-fault
tests start a private redis-server so the shared one is never touched.

Provisioning is made slow with the fault-injection setting
ORDERDESK_TEST_PROVISION_DELAY_MS (read by the worker), so a test can act while
a worker is inside the step.
"""

import time

import pytest
from django.conf import settings
from django.db.models import Count, Sum

from licensing.models import LicenseKey, SeatLedgerEntry
from orders.models import Order, OrderDocument, OrderEvent
from tests.factories import submitted_order
from orders.services.transitions import Actor, order_transition
from orders.tasks import advance_order
from tests.conftest import skip_or_fail
from tests.workers import PrivateRedis, Worker, publishing_to, redis_server_available, submit, wait_for, wait_for_status

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SLOW_PROVISIONING = {"ORDERDESK_TEST_PROVISION_DELAY_MS": "1500"}


@pytest.fixture
def services(django_db_setup):
    from django.db import connection

    if connection.vendor != "postgresql":
        skip_or_fail("the fault tests need PostgreSQL: set DATABASE_URL=postgres://…")
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        skip_or_fail("the fault tests need Redis: set CELERY_BROKER_URL=redis://…")


@pytest.fixture
def workers(services, tmp_path):
    """Start workers with `workers(...)`; all are stopped at the end of the test."""
    started = []

    def start(**options) -> Worker:
        options.setdefault("broker_url", settings.CELERY_BROKER_URL)
        worker = Worker(log_dir=tmp_path, **options)
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def private_redis(services, tmp_path):
    if not redis_server_available():
        skip_or_fail("needs redis-server to run a private broker it may restart")
    redis = PrivateRedis(tmp_path)
    redis.start()
    yield redis
    redis.kill()


def assert_provisioned_exactly_once(orders) -> None:
    """One ledger entry and one key per line, seats equal to the quantities, one PDF, one completion each."""
    orders = list(orders)
    lines = [line for order in orders for line in order.lines.all()]
    references = [line.ledger_reference for line in lines]
    entries = SeatLedgerEntry.objects.filter(reference__in=references)
    assert entries.count() == len(lines)
    assert LicenseKey.objects.filter(reference__in=references).count() == len(lines)
    assert entries.aggregate(seats=Sum("quantity"))["seats"] == sum(line.quantity for line in lines)
    assert OrderDocument.objects.filter(order__in=orders).count() == len(orders)
    completions = OrderEvent.objects.filter(order__in=orders, to_status=Order.Status.COMPLETED)
    assert completions.count() == len(orders)
    provisioned = OrderEvent.objects.filter(order__in=orders, to_status=Order.Status.DOCUMENTING)
    assert provisioned.count() == len(orders)


# (a) a worker killed while provisioning ------------------------------------------------


def test_a_pool_process_killed_while_provisioning_is_redelivered_and_counts_seats_once(workers, api, customer):
    """task_reject_on_worker_lost: the SIGKILLed child's message goes back to the queue, not lost."""
    worker = workers(concurrency=1, env=SLOW_PROVISIONING)  # no beat: only redelivery can finish the order
    number = submit(api)
    wait_for_status(number, Order.Status.PROVISIONING, timeout=30)
    time.sleep(1.0)  # inside the step now: the first line provisioned (not yet committed), sleeping

    worker.kill_child()

    order = wait_for_status(number, Order.Status.COMPLETED, timeout=60)
    assert_provisioned_exactly_once([order])
    seats = SeatLedgerEntry.objects.filter(subscription__customer=customer).aggregate(total=Sum("quantity"))["total"]
    assert seats == 100


def test_an_order_whose_worker_died_while_provisioning_completes_on_a_new_worker(workers, api, customer):
    first = workers(concurrency=1, env=SLOW_PROVISIONING)
    number = submit(api)
    wait_for_status(number, Order.Status.PROVISIONING, timeout=30)
    time.sleep(1.0)

    first.kill_child()
    first.kill()  # the whole worker is gone, its unacknowledged message with it until the visibility timeout
    assert Order.objects.get(number=number).status == Order.Status.PROVISIONING
    assert not SeatLedgerEntry.objects.filter(subscription__customer=customer).exists()  # rolled back, not half-counted

    workers(concurrency=1, beat=True)

    order = wait_for_status(number, Order.Status.COMPLETED, timeout=60)
    assert_provisioned_exactly_once([order])
    seats = SeatLedgerEntry.objects.filter(subscription__customer=customer).aggregate(total=Sum("quantity"))["total"]
    assert seats == 100


# (b) the broker unreachable when the order is submitted ---------------------------------


def test_an_order_accepted_while_the_broker_was_down_is_completed_by_the_sweeper(workers, private_redis, api):
    workers(broker_url=private_redis.url, beat=True)
    private_redis.kill()

    with publishing_to(private_redis.url):
        started = time.monotonic()
        number = submit(api)
        assert time.monotonic() - started < 2.0
    assert Order.objects.get(number=number).status == Order.Status.RECEIVED

    private_redis.start()  # back, and empty: the order was never queued anywhere

    order = wait_for_status(number, Order.Status.COMPLETED, timeout=90)
    assert order.swept_at is not None
    assert_provisioned_exactly_once([order])


# (c) the same step message delivered twice -------------------------------------------


def test_the_same_provisioning_message_delivered_twice_records_one_ledger_entry(workers, customer, catalog):
    workers(concurrency=2, env={"ORDERDESK_TEST_PROVISION_DELAY_MS": "500"})
    with publishing_to("redis://127.0.0.1:9/0"):  # stored, not queued: the test delivers it itself
        order = submitted_order(customer, po_number="PO-TWICE", lines=[("SRA-1Y", 40), ("RDA-1Y", 40)])
    for status in ("validated", "approved", "provisioning"):
        order = order_transition(order_id=order.pk, allowed_from={order.status}, to_status=status, actor=Actor.system("test"), action=status)

    # Two copies of one message, as Redis does after a visibility timeout: both pool processes take one.
    for _copy in range(2):
        advance_order.apply_async(args=[order.pk], task_id=f"duplicate-{order.pk}", queue="pipeline")

    order = wait_for_status(order.number, Order.Status.COMPLETED, timeout=60)
    assert_provisioned_exactly_once([order])
    assert SeatLedgerEntry.objects.filter(subscription__customer=customer).count() == 2


# (d) Redis restarted empty while orders are queued ------------------------------------


def place_surge(customer, count: int) -> list[Order]:
    customer.credit_limit = 10**12
    customer.save()
    return [
        # A different quantity per order, so none looks like a duplicate of another.
        submitted_order(customer, po_number=f"PO-SURGE-{index}", lines=[("SRA-1Y", index + 1), ("RDA-1Y", 1)])
        for index in range(count)
    ]


def wait_until_all_completed(orders, *, timeout: float) -> None:
    def all_completed():
        counts = dict(Order.objects.filter(pk__in=[o.pk for o in orders]).values_list("status").annotate(n=Count("id")))
        return counts.get(Order.Status.COMPLETED) == len(orders)

    wait_for(all_completed, timeout=timeout, interval=0.5, message=f"all {len(orders)} orders to complete")
    assert_provisioned_exactly_once(Order.objects.filter(pk__in=[o.pk for o in orders]).prefetch_related("lines"))


def test_orders_queued_when_redis_restarts_empty_all_complete_exactly_once(workers, private_redis, customer, catalog):
    with publishing_to(private_redis.url):
        orders = place_surge(customer, 200)
    assert private_redis.queued("pipeline") > 0  # one gather message with a shared cache, one per order without

    private_redis.restart_empty()
    assert private_redis.queued("pipeline") == 0
    workers(broker_url=private_redis.url, concurrency=2, beat=True, env={"ORDER_SWEEP_BATCH": "500"})

    wait_until_all_completed(orders, timeout=150)


# (e) new orders publish one gather message while no worker runs ----------------------------------


def test_new_orders_placed_while_no_worker_runs_wait_behind_one_message_and_all_complete(
    workers, private_redis, customer, catalog
):
    if not settings.CACHE_URL.startswith("redis://"):
        skip_or_fail("the gather de-duplication key needs a cache the workers share: set CACHE_URL=redis://…")
    with publishing_to(private_redis.url):
        orders = place_surge(customer, 2 * settings.ORDER_PIPELINE_BATCH_SIZE + 20)
    assert private_redis.queued("pipeline") == 1

    # No beat, so no sweeper: only the gather message, and the ones each full batch rings, move the new orders.
    workers(broker_url=private_redis.url, concurrency=2)

    wait_until_all_completed(orders, timeout=120)
