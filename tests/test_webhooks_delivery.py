"""Webhook delivery end to end: orders through real Celery workers, events to a real HTTP receiver on loopback.

Each test starts the workers it needs with short retry settings (the
schedule's shape is the production one, its unit is shorter) and a receiver
in this process. On both stacks, like tests/test_pipeline.py.
"""

import time

import pytest
from django.conf import settings
from django.db import transaction

from orderdesk.audit import Actor
from orderdesk.notifications.delivery import retry_delay
from orderdesk.notifications.endpoints import endpoint_create
from orderdesk.notifications.events import EVENT_TYPES
from orderdesk.notifications.models import Event, OutboundEmail, WebhookDelivery, WebhookEndpoint
from orderdesk.notifications.outbox import event_record
from orders.models import Order
from orders.services.review import order_reject
from tests.conftest import skip_or_fail
from tests.webhook_support import Receiver
from tests.workers import Worker, submit, wait_for, wait_for_status

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ORDER_EVENTS = [name for name in EVENT_TYPES if name.startswith("order.")]
# The schedule in seconds instead of minutes and hours: first retry after 0.5 s, doubling up to 2 s.
FAST_RETRIES = {
    "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    "WEBHOOK_TIMEOUT_SECONDS": "2",
    "WEBHOOK_LEASE_SECONDS": "9",
    "WEBHOOK_DELIVERY_BATCH": "2",
    "WEBHOOK_DELIVERY_BATCH_SECONDS": "0.5",
    "WEBHOOK_SWEEP_INTERVAL_SECONDS": "2",
    "WEBHOOK_SWEEP_GRACE_SECONDS": "3",
    "WEBHOOK_RETRY_FIRST_SECONDS": "0.5",
    "WEBHOOK_RETRY_MAX_SECONDS": "2",
}


@pytest.fixture
def workers(django_db_setup, tmp_path):
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "filesystem://")):
        skip_or_fail("the delivery tests need a broker workers share: CELERY_BROKER_URL=redis://… or filesystem://")
    purge_notifications_queue()  # messages an earlier test's workers left (their rows are gone)
    started = []

    def start(*, env: dict, **options) -> Worker:
        worker = Worker(broker_url=settings.CELERY_BROKER_URL, log_dir=tmp_path, env={**FAST_RETRIES, **env}, **options)
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def services(django_db_setup):
    """Timing and crash tests: Redis delivers delayed messages on time (the embedded broker polls once a second)."""
    from django.db import connection

    if connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL.startswith("redis://"):
        skip_or_fail("needs PostgreSQL and Redis: set DATABASE_URL=postgres://… and CELERY_BROKER_URL=redis://…")


def purge_notifications_queue() -> None:
    from orderdesk.celery import app

    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge("notifications")


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def endpoint(settings, customer, receiver):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    return endpoint_create(customer_id=customer.pk, url=receiver.url, events=ORDER_EVENTS)


def delivered(receiver, count: int, *, timeout: float = 120):
    return wait_for(lambda: len(receiver.event_ids()) >= count, timeout=timeout, message=f"{count} events delivered")


def test_every_order_event_is_delivered_signed_with_the_endpoint_secret(workers, receiver, endpoint, api, customer, django_user_model):
    workers(env={"WEBHOOK_RETRY_FOR_SECONDS": "60"}, queues="pipeline,documents,notifications", beat=True)
    completed = submit(api, po_number="PO-DONE")
    wait_for_status(completed, Order.Status.COMPLETED)
    customer.manual_approval = True
    customer.save()
    rejected = submit(api, po_number="PO-NO", lines=[{"sku": "SRA-1Y", "quantity": 10}])
    cancelled = submit(api, po_number="PO-CANCEL", lines=[{"sku": "SRA-1Y", "quantity": 20}])
    wait_for_status(rejected, Order.Status.NEEDS_REVIEW)
    wait_for_status(cancelled, Order.Status.NEEDS_REVIEW)
    order_reject(order=Order.objects.get(number=rejected), actor=Actor.system("tests"), reason="予算が承認されませんでした")
    assert api.post(f"/api/v1/orders/{cancelled}/cancel/").status_code == 200

    delivered(receiver, 3 + 1 + 2 + 1 + 1)

    events = [item.event for item in receiver.received]
    assert all(item.signed_with(endpoint.secret) for item in receiver.received)
    assert all(item.headers["Orderdesk-Event-Id"] == item.event["id"] for item in receiver.received)
    by_type = {}
    for event in events:
        by_type.setdefault(event["type"], []).append(event)
    assert {t: sorted(e["data"]["object"]["number"] for e in found) for t, found in by_type.items()} == {
        "order.received": sorted([completed, rejected, cancelled]),
        "order.completed": [completed],
        "order.needs_review": sorted([rejected, cancelled]),
        "order.rejected": [rejected],
        "order.cancelled": [cancelled],
    }
    done = by_type["order.completed"][0]["data"]
    assert done["object"]["status"] == "completed"
    assert done["quote_pdf_url"].endswith(f"/api/v1/orders/{completed}/documents/quote.pdf")
    assert done["seats"] == [{"sku": "SRA-1Y", "quantity": 50}, {"sku": "RDA-1Y", "quantity": 50}]
    for review in by_type["order.needs_review"]:
        assert {"code": "MANUAL_APPROVAL", "description": "Customer requires manual approval"} in review["data"]["review_reasons"]
    assert by_type["order.rejected"][0]["data"]["reason"] == "予算が承認されませんでした"
    assert len({event["id"] for event in events}) == len(events)  # one id per event
    assert all(event["id"].startswith("evt_") and event["created_at"] for event in events)


def record_event(customer, number: str) -> Event:
    with transaction.atomic():
        return event_record(customer_id=customer.pk, event_type="order.received", payload={"object": {"number": number}})


def test_a_failing_receiver_gets_retries_on_schedule_and_the_endpoint_is_disabled_and_its_contact_emailed(
    services, workers, receiver, endpoint, customer
):
    receiver.answer = lambda item: (500, b"down for maintenance")
    workers(env={"WEBHOOK_RETRY_FOR_SECONDS": "6"}, queues="pipeline,notifications", beat=True)

    event = record_event(customer, "O-TEST-1")

    wait_for(lambda: not WebhookEndpoint.objects.get(pk=endpoint.pk).is_active, timeout=40, message="the endpoint disabled")
    times = [item.at for item in receiver.received]
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    assert len(times) >= 4, gaps
    with_settings = {"WEBHOOK_RETRY_FIRST_SECONDS": 0.5, "WEBHOOK_RETRY_MAX_SECONDS": 2}
    for number, gap in enumerate(gaps, start=1):
        full = min(with_settings["WEBHOOK_RETRY_FIRST_SECONDS"] * 2 ** (number - 1), with_settings["WEBHOOK_RETRY_MAX_SECONDS"])
        assert full / 2 - 0.05 <= gap <= full + 2, (number, gaps)  # never early; late by at most a loaded machine's delay
    delivery = WebhookDelivery.objects.get(event=event, endpoint=endpoint)
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert list(delivery.attempt_log.order_by("number").values_list("status_code", flat=True)) == [500] * len(times)
    assert delivery.attempt_log.first().response_excerpt == "down for maintenance"
    email = wait_for(
        lambda: OutboundEmail.objects.filter(kind="webhook_endpoint_disabled", status=OutboundEmail.Status.SENT).first(),
        timeout=20,
        message="the contact e-mailed",
    )
    assert email.to == [customer.billing_email]
    assert "停止" in email.subject and endpoint.url in email.body
    count = len(receiver.received)
    record_event(customer, "O-TEST-2")  # a disabled endpoint gets nothing more
    time.sleep(3)
    assert len(receiver.received) == count


def test_a_receiver_down_for_a_while_gets_every_event_once_it_is_back(workers, receiver, endpoint, api, customer):
    workers(env={"WEBHOOK_RETRY_FOR_SECONDS": "300"}, queues="pipeline,documents,notifications", beat=True)
    receiver.stop()
    numbers = [submit(api, po_number=f"PO-DOWN-{n}", lines=[{"sku": "SRA-1Y", "quantity": 10 + n}]) for n in range(4)]
    for number in numbers:
        wait_for_status(number, Order.Status.COMPLETED, timeout=120)
    wait_for(
        lambda: WebhookDelivery.objects.filter(endpoint=endpoint, attempts__gte=2).count() >= len(numbers),
        timeout=60,
        message="failed attempts while the receiver is down",
    )
    assert receiver.received == []

    receiver.start()  # the same port

    expected = set(Event.objects.filter(customer=customer).values_list("public_id", flat=True))
    assert len(expected) == 2 * len(numbers)  # received and completed
    wait_for(lambda: receiver.event_ids() >= expected, timeout=120, message="every event delivered")
    assert receiver.event_ids() == expected
    wait_for(
        lambda: not WebhookDelivery.objects.exclude(status=WebhookDelivery.Status.SUCCEEDED).exists(),
        timeout=20,
        message="every delivery succeeded",
    )
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).failing_since is None


def test_a_worker_killed_in_the_middle_of_a_delivery_loses_nothing(services, workers, receiver, endpoint, customer):
    receiver.delay = 1.5  # the first requests hang while the worker is killed
    workers(env={"WEBHOOK_RETRY_FOR_SECONDS": "300"}, queues="pipeline", beat=True)  # beat: the sweeper
    notifier = workers(env={"WEBHOOK_RETRY_FOR_SECONDS": "300"}, queues="notifications", concurrency=1)
    event = record_event(customer, "O-KILL-1")

    wait_for(lambda: receiver.started_requests, timeout=30, message="a delivery in progress")
    notifier.kill_child()
    receiver.delay = 0

    wait_for(
        lambda: WebhookDelivery.objects.filter(event=event, status=WebhookDelivery.Status.SUCCEEDED).exists(),
        timeout=60,
        message="the delivery completed after the kill",
    )
    assert event.public_id in receiver.event_ids()
    assert {item.event["id"] for item in receiver.started_requests} == {event.public_id}
