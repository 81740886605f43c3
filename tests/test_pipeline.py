"""The order pipeline end to end: API → real Celery worker → database → completed.

On both stacks: PostgreSQL and Redis, and the embedded one that scripts/run
starts (SQLite and the filesystem broker). One worker (with beat, so the
sweeper runs) serves the whole module; each test waits for the state the
worker must reach.
"""

import pytest
from django.conf import settings
from django.db.models import Sum

from licensing.models import LicenseKey, SeatLedgerEntry
from orders.models import Order, OrderDocument, ReviewReason
from orders.services.queueing import enqueue_order
from orders.services.transitions import Actor, order_transition
from tests.conftest import skip_or_fail
from tests.factories import submitted_order
from tests.workers import Worker, publishing_to, submit, wait_for_status

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

UNREACHABLE_BROKER = "redis://127.0.0.1:9/0"


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, tmp_path_factory):
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "filesystem://")):
        skip_or_fail("the pipeline tests need a broker workers share: CELERY_BROKER_URL=redis://… or filesystem://")
    worker = Worker(broker_url=settings.CELERY_BROKER_URL, log_dir=tmp_path_factory.mktemp("worker"), beat=True)
    worker.start()
    yield worker
    worker.stop()


def test_order_submitted_through_the_api_completes_with_seats_keys_and_a_pdf(worker, api, customer):
    number = submit(api)

    order = wait_for_status(number, Order.Status.COMPLETED)

    entries = SeatLedgerEntry.objects.filter(subscription__customer=customer)
    assert {(entry.subscription.product.sku, entry.quantity) for entry in entries} == {("SRA-1Y", 50), ("RDA-1Y", 50)}
    assert LicenseKey.objects.filter(subscription__customer=customer).count() == 2
    assert OrderDocument.objects.filter(order=order, kind="quote").count() == 1
    steps = list(order.events.values_list("to_status", flat=True))
    assert steps == ["received", "validated", "approved", "provisioning", "documenting", "completed"]

    detail = api.get(f"/api/v1/orders/{number}/").json()
    assert detail["status"] == "completed"
    assert sorted((item["sku"], item["seats"]) for item in detail["licenses"]) == [("RDA-1Y", 50), ("SRA-1Y", 50)]
    assert all(item["key"] for item in detail["licenses"])
    assert [document["kind"] for document in detail["documents"]] == ["quote"]
    pdf = api.get(f"/api/v1/orders/{number}/documents/quote.pdf")
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content).startswith(b"%PDF")
    licenses = api.get("/api/v1/licenses/").json()["results"]
    assert {(item["sku"], item["seats"]) for item in licenses} == {("SRA-1Y", 50), ("RDA-1Y", 50)}


@pytest.mark.parametrize(
    "reason",
    [
        ReviewReason.INACTIVE_SKU,
        ReviewReason.QUANTITY_OVER_CAP,
        ReviewReason.OVER_CREDIT_LIMIT,
        ReviewReason.ADDON_EXCEEDS_BASE,
        ReviewReason.MANUAL_APPROVAL,
    ],
)
def test_an_order_a_rule_holds_waits_in_needs_review_with_the_code(worker, api, customer, catalog, reason):
    body = {}
    if reason == ReviewReason.INACTIVE_SKU:
        catalog["SRA-1Y"].is_active = False
        catalog["SRA-1Y"].save()
    elif reason == ReviewReason.QUANTITY_OVER_CAP:
        body["lines"] = [{"sku": "SRA-1Y", "quantity": settings.ORDER_REVIEW_MAX_QUANTITY + 1}]
    elif reason == ReviewReason.OVER_CREDIT_LIMIT:
        customer.credit_limit = 100_000
        customer.save()
    elif reason == ReviewReason.ADDON_EXCEEDS_BASE:
        body["lines"] = [{"sku": "RDA-1Y", "quantity": 10}]
    elif reason == ReviewReason.MANUAL_APPROVAL:
        customer.manual_approval = True
        customer.save()

    number = submit(api, **body)

    order = wait_for_status(number, Order.Status.NEEDS_REVIEW)
    assert order.review_reasons == [reason]
    assert reason in order.status_reason
    assert not SeatLedgerEntry.objects.exists()


def test_the_same_lines_under_another_po_number_are_held_as_a_suspected_duplicate(worker, api):
    first = submit(api, po_number="PO-1")
    wait_for_status(first, Order.Status.COMPLETED)

    second = submit(api, po_number="PO-1-AGAIN")

    order = wait_for_status(second, Order.Status.NEEDS_REVIEW)
    assert order.review_reasons == [ReviewReason.SUSPECTED_DUPLICATE]


def test_a_line_whose_sku_left_the_catalog_is_held_as_unknown(worker, customer, catalog):
    with publishing_to(UNREACHABLE_BROKER):  # stored, not yet queued
        order = submitted_order(customer, po_number="PO-U", lines=[("SRA-1Y", 5)])
    catalog["SRA-1Y"].sku = "SRA-1Y-OLD"
    catalog["SRA-1Y"].save()

    enqueue_order(order.pk)

    order = wait_for_status(order.number, Order.Status.NEEDS_REVIEW)
    assert order.review_reasons == [ReviewReason.UNKNOWN_SKU]


def test_an_order_a_person_approves_goes_on_to_completion(worker, api, customer):
    customer.manual_approval = True
    customer.save()
    number = submit(api)
    order = wait_for_status(number, Order.Status.NEEDS_REVIEW)

    order_transition(
        order_id=order.pk,
        allowed_from={Order.Status.NEEDS_REVIEW},
        to_status=Order.Status.APPROVED,
        actor=Actor.system("staff-test"),
        action="approved",
        on_commit=lambda approved: enqueue_order(approved.pk),
    )

    wait_for_status(number, Order.Status.COMPLETED)
    seats = SeatLedgerEntry.objects.filter(subscription__customer=customer).aggregate(total=Sum("quantity"))["total"]
    assert seats == 100


def test_a_failed_order_set_back_to_received_resumes(worker, customer, catalog):
    with publishing_to(UNREACHABLE_BROKER):
        order = submitted_order(customer, po_number="PO-F", lines=[("SRA-1Y", 3)])
    order_transition(order_id=order.pk, allowed_from={"received"}, to_status="failed", actor=Actor.system("test"), action="failed")

    order_transition(
        order_id=order.pk,
        allowed_from={Order.Status.FAILED},
        to_status=Order.Status.RECEIVED,
        actor=Actor.system("staff-test"),
        action="retried",
        on_commit=lambda retried: enqueue_order(retried.pk),
    )

    wait_for_status(order.number, Order.Status.COMPLETED)
    assert SeatLedgerEntry.objects.get(subscription__customer=customer).quantity == 3
