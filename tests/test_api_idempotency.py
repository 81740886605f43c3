"""Idempotency-Key: first use, replay, reuse with another body, and in flight."""

import json
import threading

import pytest
from django.db import connection

from orderdesk.models import IdempotencyRecord
from orders.models import Order
from orders.services import intake
from tests.conftest import client_for, order_body

pytestmark = pytest.mark.django_db


def post_order(client, body, key):
    return client.post(
        "/api/v1/orders/", data=json.dumps(body), content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
    )


def test_first_request_with_a_key_is_processed_and_not_marked_replayed(api):
    response = post_order(api, order_body(), "key-1")

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert Order.objects.count() == 1


def test_same_key_same_body_replays_the_stored_response_and_creates_nothing(api):
    first = post_order(api, order_body(), "key-1")
    # Same JSON with other key order and spacing is the same body.
    reordered = json.loads(json.dumps(order_body()))
    reordered = dict(reversed(list(reordered.items())))

    second = post_order(api, reordered, "key-1")

    assert second.status_code == 201
    assert second["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert second["Location"] == first["Location"]
    assert Order.objects.count() == 1


def test_same_key_with_a_different_body_is_422(api):
    post_order(api, order_body(), "key-1")

    response = post_order(api, order_body(lines=[{"sku": "SRA-1Y", "quantity": 3}]), "key-1")

    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == "idempotency-key-reused"
    assert Order.objects.count() == 1


def test_same_key_while_the_first_request_runs_is_409(api):
    from django.utils import timezone

    post_order(api, order_body(), "key-1")
    # Put the key back in the state it has while the first request is still running.
    IdempotencyRecord.objects.update(state=IdempotencyRecord.State.IN_FLIGHT, created_at=timezone.now())

    response = post_order(api, order_body(), "key-1")

    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == "idempotency-key-in-flight"
    assert Order.objects.count() == 1


def test_keys_are_scoped_to_the_customer(api, outsider_api):
    mine = post_order(api, order_body(), "shared-key")
    theirs = post_order(outsider_api, order_body(), "shared-key")

    assert mine.status_code == 201 and theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs
    assert mine.json()["number"] != theirs.json()["number"]


def test_a_colleague_token_of_the_same_customer_replays(api, colleague_api):
    first = post_order(api, order_body(), "key-1")
    second = post_order(colleague_api, order_body(), "key-1")
    assert second["Idempotent-Replayed"] == "true"
    assert second.json()["number"] == first.json()["number"]


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve-key", "tab\there"])
def test_malformed_idempotency_key_is_rejected_and_nothing_is_created(api, key):
    response = post_order(api, order_body(), key)

    assert response.status_code == 400
    assert response.json()["type"] == "invalid-idempotency-key"
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"
    assert Order.objects.count() == 0


def test_a_failed_request_frees_its_key_for_the_retry(api):
    bad = post_order(api, order_body(lines=[{"sku": "SRA-1Y", "quantity": 0}]), "key-1")
    good = post_order(api, order_body(lines=[{"sku": "SRA-1Y", "quantity": 1}]), "key-1")

    assert bad.status_code == 400
    assert good.status_code == 201 and "Idempotent-Replayed" not in good


def test_an_abandoned_in_flight_key_is_taken_over_after_the_timeout(api, customer, settings):
    from django.utils import timezone

    long_ago = timezone.now() - timezone.timedelta(seconds=settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS + 5)
    IdempotencyRecord.objects.create(
        customer=customer, key="key-1", request_fingerprint="x", created_at=long_ago,
        expires_at=long_ago + timezone.timedelta(hours=24),
    )

    response = post_order(api, order_body(), "key-1")

    assert response.status_code == 201


def test_cancel_accepts_an_idempotency_key(api):
    number = api.post("/api/v1/orders/", data=order_body(), format="json").json()["number"]

    first = api.post(f"/api/v1/orders/{number}/cancel/", HTTP_IDEMPOTENCY_KEY="cancel-1")
    second = api.post(f"/api/v1/orders/{number}/cancel/", HTTP_IDEMPOTENCY_KEY="cancel-1")

    assert first.status_code == 200
    assert second["Idempotent-Replayed"] == "true"


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_with_one_key_make_one_order(requires_postgres, customer, catalog, monkeypatch):
    """Two truly concurrent requests on PostgreSQL: one 201, one 409, one order."""
    first_is_inside = threading.Event()
    second_is_done = threading.Event()
    def slowly(original):
        def slow(**kwargs):
            # Hold the first request inside processing until the second has been answered.
            first_is_inside.set()
            second_is_done.wait(timeout=10)
            return original(**kwargs)

        return slow

    monkeypatch.setattr("orders.api.submit.order_submit", slowly(intake.order_submit))
    clients = [client_for(customer), client_for(customer)]
    responses = {}

    def send(name, client, wait_for=None):
        if wait_for is not None:
            wait_for.wait(timeout=10)
        try:
            responses[name] = post_order(client, order_body(), "race-key")
        finally:
            if name == "second":
                second_is_done.set()
            connection.close()

    threads = [
        threading.Thread(target=send, args=("first", clients[0])),
        threading.Thread(target=send, args=("second", clients[1], first_is_inside)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert responses["first"].status_code == 201
    assert responses["second"].status_code == 409
    assert responses["second"].json()["type"] == "idempotency-key-in-flight"
    assert Order.objects.count() == 1


def test_a_duplicate_po_number_leaves_the_key_free_for_a_corrected_retry(api):
    assert post_order(api, order_body(po_number="PO-1"), "key-1").status_code == 201

    duplicate = post_order(api, order_body(po_number="PO-1"), "key-2")
    corrected = post_order(api, order_body(po_number="PO-2"), "key-2")

    assert duplicate.status_code == 409
    assert corrected.status_code == 201 and "Idempotent-Replayed" not in corrected
    assert IdempotencyRecord.objects.get(key="key-2").state == IdempotencyRecord.State.FINISHED
