"""The lean path of POST /api/v1/orders/ (orders.api.intake) against the DRF path it stands in for."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIRequestFactory

from licensing.models import PriceTier
from orderdesk.api.throttling import CustomerTokenThrottle
from orderdesk.models import IdempotencyRecord, NumberSequence
from orders.api.intake import created_body, plain_order
from orders.api.serializers import OrderInputSerializer, OrderSerializer
from orders.models import Order
from tests.conftest import GATHER, order_body, take_published
from tests.test_api_orders import INVALID_BODIES

pytestmark = pytest.mark.django_db


def post_order(client, body, **headers):
    return client.post("/api/v1/orders/", data=json.dumps(body), content_type="application/json", **headers)


def validated(body) -> dict:
    serializer = OrderInputSerializer(data=body)
    assert serializer.is_valid(), serializer.errors
    return serializer.validated_data


def as_validated_data(order) -> dict:
    """A PlainOrder in the shape of OrderInputSerializer's validated_data."""
    data = {
        "po_number": order.po_number,
        "lines": [{"sku": line.sku, "quantity": line.quantity} for line in order.lines],
        "notes": order.notes,
    }
    if order.requested_start is not None:
        data["requested_start"] = order.requested_start
    return data


@pytest.mark.parametrize(
    "body",
    [
        order_body(),
        order_body(po_number="  PO-padded  ", notes="  在宅勤務者追加分\n"),
        order_body(requested_start=timezone.localdate().isoformat()),
        order_body(requested_start=(timezone.localdate() + timedelta(days=40)).isoformat()),
        {"po_number": "PO-minimal", "lines": [{"sku": "SRA-1Y", "quantity": 100_000}]},
        {**order_body(), "unknown_field": "ignored", "requested_start": None},
    ],
)
def test_what_the_lean_checks_accept_the_serializer_accepts_with_the_same_values(body):
    order = plain_order(json.loads(json.dumps(body)))

    assert order is not None
    data = dict(validated(body))
    if data.get("requested_start") is None:
        data.pop("requested_start", None)  # absent and null both leave the order without a start date
    assert as_validated_data(order) == data


@pytest.mark.parametrize(("body", "expected"), INVALID_BODIES)
def test_every_invalid_body_is_handed_to_the_serializer(body, expected):
    assert plain_order(body) is None


@pytest.mark.parametrize(
    "body",
    [
        order_body(lines=[{"sku": "SRA-1Y", "quantity": "50"}]),
        order_body(lines=[{"sku": "SRA-1Y", "quantity": 50.0}]),
        order_body(po_number=12345),
    ],
    ids=["quantity-as-string", "quantity-as-float", "po-number-as-integer"],
)
def test_a_valid_body_the_lean_checks_do_not_take_is_still_accepted_by_the_full_path(api, body):
    assert plain_order(body) is None

    response = post_order(api, body)

    assert response.status_code == 201
    assert Order.objects.count() == 1


def test_the_201_body_is_what_order_serializer_writes(api):
    body = order_body(requested_start=(timezone.localdate() + timedelta(days=3)).isoformat())

    response = post_order(api, body)

    assert response.status_code == 201
    order = Order.objects.get(number=response.json()["number"])
    request = APIRequestFactory().get("/")
    assert response.json() == json.loads(json.dumps(OrderSerializer(order, context={"request": request}).data))
    assert created_body(_with_lines(order), request) == response.json()


def _with_lines(order):
    order.prefetched_lines = list(order.lines.all())
    return order


def test_a_replay_is_counted_once_against_the_rate_limit(api, monkeypatch):
    # The lean path counts the request, then hands the replay to DRF, which must not count it again.
    monkeypatch.setattr(CustomerTokenThrottle, "THROTTLE_RATES", {"customer_token": "3/min"})

    first = post_order(api, order_body(), HTTP_IDEMPOTENCY_KEY="key-1")
    replay = post_order(api, order_body(), HTTP_IDEMPOTENCY_KEY="key-1")
    third = post_order(api, order_body(po_number="PO-3"), HTTP_IDEMPOTENCY_KEY="key-3")
    fourth = post_order(api, order_body(po_number="PO-4"), HTTP_IDEMPOTENCY_KEY="key-4")

    assert [first.status_code, replay.status_code, third.status_code, fourth.status_code] == [201, 201, 201, 429]
    assert replay["Idempotent-Replayed"] == "true"
    assert fourth["Content-Type"] == "application/problem+json"
    assert int(fourth["Retry-After"]) >= 1
    assert Order.objects.count() == 2


def test_an_unknown_sku_with_a_key_is_named_and_frees_the_key(api):
    unknown = post_order(api, order_body(lines=[{"sku": "NOPE-9", "quantity": 1}]), HTTP_IDEMPOTENCY_KEY="key-1")
    corrected = post_order(api, order_body(), HTTP_IDEMPOTENCY_KEY="key-1")

    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["field"] == "lines[0].sku"
    assert corrected.status_code == 201 and "Idempotent-Replayed" not in corrected
    assert IdempotencyRecord.objects.get(key="key-1").state == IdempotencyRecord.State.FINISHED


def test_a_new_price_applies_to_the_next_order(api, catalog):
    before = post_order(api, order_body(po_number="PO-before")).json()
    PriceTier.objects.filter(product=catalog["SRA-1Y"], min_quantity=50).update(unit_price=5000)
    catalog["RDA-1Y"].name_ja = "リモートデスクトップ アドオン（新名称）"
    catalog["RDA-1Y"].save()

    after = post_order(api, order_body(po_number="PO-after")).json()

    assert before["lines"][0]["unit_price"] == 5400 and after["lines"][0]["unit_price"] == 5000
    assert after["lines"][1]["name"] == "リモートデスクトップ アドオン（新名称）"


def test_a_response_format_other_than_json_is_refused_as_before(api):
    response = post_order(api, order_body(), HTTP_ACCEPT="text/html")

    assert response.status_code == 406
    assert response["Content-Type"] == "application/problem+json"
    assert Order.objects.count() == 0


def test_a_submission_with_a_key_takes_two_statements_on_postgresql(requires_postgres, api):
    # token, key claim, order number and id, catalog; then order, lines, event and stored response
    with CaptureQueriesContext(connection) as captured:
        response = post_order(api, order_body(), HTTP_IDEMPOTENCY_KEY="key-1")

    assert response.status_code == 201
    control = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")
    queries = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(control)]
    assert len(queries) == 2, queries


def _stored(order: Order) -> dict:
    """What a submission stored, without what differs between any two orders."""
    differs = {"id", "number", "po_number", "created_at", "status_changed_at"}
    return {
        "order": {k: v for k, v in Order.objects.filter(pk=order.pk).values().get().items() if k not in differs},
        "lines": list(
            order.lines.order_by("position").values(
                "position", "product_id", "sku", "product_name", "unit", "quantity", "unit_price", "amount", "tax_rate"
            )
        ),
        "events": list(order.events.values("actor_id", "actor_label", "from_status", "to_status", "reason", "data")),
    }


def test_the_lean_path_stores_what_the_full_path_stores(requires_postgres, api):
    today = timezone.localdate().isoformat()
    lines = [{"sku": "SRA-1Y", "quantity": 50}, {"sku": "RDA-1Y", "quantity": 10}]
    lean = post_order(api, order_body(po_number="PO-lean", lines=lines, requested_start=today), HTTP_IDEMPOTENCY_KEY="lean")
    # A quantity sent as a string is valid, but only the serializer reads it: that body takes the full path.
    full_lines = [{"sku": "SRA-1Y", "quantity": "50"}, {"sku": "RDA-1Y", "quantity": 10}]
    full = post_order(api, order_body(po_number="PO-full", lines=full_lines, requested_start=today), HTTP_IDEMPOTENCY_KEY="full")

    assert lean.status_code == full.status_code == 201
    by_number = {order.number: order for order in Order.objects.all()}
    assert _stored(by_number[lean.json()["number"]]) == _stored(by_number[full.json()["number"]])
    lean_record, full_record = (IdempotencyRecord.objects.get(key=key) for key in ("lean", "full"))
    assert lean_record.state == full_record.state == IdempotencyRecord.State.FINISHED
    assert (lean_record.response_status, lean_record.response_body) == (201, lean.json())
    assert lean_record.response_headers == {"Location": lean["Location"]}
    assert lean_record.expires_at - lean_record.created_at == full_record.expires_at - full_record.created_at


def test_an_order_number_series_starts_with_the_years_first_lean_submission(requires_postgres, api):
    NumberSequence.objects.all().delete()

    first = post_order(api, order_body(po_number="PO-1"))
    second = post_order(api, order_body(po_number="PO-2"))

    year = timezone.localdate().year
    assert [first.json()["number"], second.json()["number"]] == [f"O-{year}-000001", f"O-{year}-000002"]


def test_orders_submitted_while_no_worker_runs_publish_one_gather_message(api, shared_cache, django_capture_on_commit_callbacks):
    # One message for the burst: the new orders' doorbell (orders.services.queueing.enqueue_new_order).
    with django_capture_on_commit_callbacks(execute=True):
        statuses = [post_order(api, order_body(po_number=f"PO-{index}")).status_code for index in range(3)]

    assert statuses == [201, 201, 201]
    assert take_published() == [GATHER]
