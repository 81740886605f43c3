"""Submitting, listing, reading and cancelling orders through the customer API."""

import json

import pytest
from django.utils import timezone

from orders.models import Order, OrderEvent
from tests.conftest import order_body

pytestmark = pytest.mark.django_db


def post_order(client, body, **headers):
    return client.post("/api/v1/orders/", data=json.dumps(body), content_type="application/json", **headers)


def field_codes(response) -> dict[str, str]:
    return {error["field"]: error["code"] for error in response.json()["errors"]}


def test_submitted_order_is_committed_with_tier_prices_and_tax(api, customer):
    response = post_order(api, order_body())

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "received"
    assert body["number"].startswith(f"O-{timezone.localdate().year}-")
    assert [(l["sku"], l["unit_price"], l["amount"]) for l in body["lines"]] == [
        ("SRA-1Y", 5400, 270_000),
        ("RDA-1Y", 2700, 135_000),
    ]
    assert (body["subtotal"], body["tax"], body["total"]) == (405_000, 40_500, 445_500)
    assert response["Location"] == body["url"]
    order = Order.objects.get(number=body["number"])
    assert order.customer == customer and order.total == 445_500
    assert OrderEvent.objects.filter(order=order, to_status="received", actor_label="api:OWNER").exists()


def test_duplicate_po_number_is_rejected_with_the_existing_order_number(api):
    first = post_order(api, order_body(po_number="PO-7"))
    second = post_order(api, order_body(po_number="PO-7", lines=[{"sku": "SRA-1Y", "quantity": 1}]))

    assert second.status_code == 409
    assert second["Content-Type"] == "application/problem+json"
    assert second.json()["type"] == "duplicate-po-number"
    assert second.json()["number"] == first.json()["number"]
    assert Order.objects.count() == 1


def test_the_same_po_number_is_fine_for_another_customer(api, outsider_api):
    assert post_order(api, order_body(po_number="PO-1")).status_code == 201
    assert post_order(outsider_api, order_body(po_number="PO-1")).status_code == 201


# Each invalid body with the field path and code its 400 names.
INVALID_BODIES = [
    ({"lines": [{"sku": "SRA-1Y", "quantity": 1}]}, {"po_number": "required"}),
    (order_body(po_number=""), {"po_number": "blank"}),
    (order_body(po_number="P" * 65), {"po_number": "max_length"}),
    (order_body(lines=[]), {"lines": "empty"}),
    (order_body(lines="SRA-1Y"), {"lines": "not_a_list"}),
    (order_body(lines=[{"sku": "SRA-1Y"}]), {"lines[0].quantity": "required"}),
    (order_body(lines=[{"sku": "SRA-1Y", "quantity": "ten"}]), {"lines[0].quantity": "invalid"}),
    (order_body(lines=[{"sku": "SRA-1Y", "quantity": 1.5}]), {"lines[0].quantity": "invalid"}),
    (
        order_body(lines=[{"sku": "SRA-1Y", "quantity": 1}, {"sku": "RDA-1Y", "quantity": -3}]),
        {"lines[1].quantity": "min_value"},
    ),
    (order_body(lines=[{"sku": "SRA-1Y", "quantity": 0}]), {"lines[0].quantity": "min_value"}),
    (order_body(lines=[{"sku": "SRA-1Y", "quantity": 100_001}]), {"lines[0].quantity": "max_value"}),
    (order_body(lines=[{"sku": f"S{i}", "quantity": 1} for i in range(101)]), {"lines": "max_length"}),
    (
        order_body(lines=[{"sku": "SRA-1Y", "quantity": 1}, {"sku": "SRA-1Y", "quantity": 2}]),
        {"lines[1].sku": "duplicate"},
    ),
    (order_body(lines=[{"sku": "SRA-1Y", "quantity": "50"}]), {"lines[0].quantity": "invalid"}),
    (order_body(lines=[{"sku": "SRA-1Y", "quantity": 50.0}]), {"lines[0].quantity": "invalid"}),
    (order_body(requested_start="2020-01-01"), {"requested_start": "past_date"}),
    (order_body(requested_start="9999-12-31"), {"requested_start": "too_far"}),
    (order_body(requested_start="next monday"), {"requested_start": "invalid"}),
    (order_body(po_number="PO\u202e-1"), {"po_number": "invalid_character"}),
    (order_body(po_number=12345), {"po_number": "invalid"}),
]


@pytest.mark.parametrize(
    ("body", "expected"),
    INVALID_BODIES,
    ids=lambda value: json.dumps(value, ensure_ascii=False)[:60] if isinstance(value, dict) else None,
)
def test_invalid_order_names_each_wrong_field_and_creates_nothing(api, body, expected):
    response = post_order(api, body)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == "validation-error"
    assert field_codes(response) == expected
    assert Order.objects.count() == 0


def test_unknown_sku_is_named_by_its_line(api):
    response = post_order(api, order_body(lines=[{"sku": "SRA-1Y", "quantity": 1}, {"sku": "NOPE-9", "quantity": 1}]))

    assert response.status_code == 400
    assert field_codes(response) == {"lines[1].sku": "unknown_sku"}
    assert "NOPE-9" in response.json()["errors"][0]["message"]
    assert Order.objects.count() == 0


def test_a_full_hundred_line_order_is_accepted(api):
    from tests.factories import PriceTierFactory, ProductFactory

    for i in range(98):
        PriceTierFactory(product=ProductFactory(sku=f"EXTRA-{i}"), unit_price=100)
    lines = [{"sku": "SRA-1Y", "quantity": 1}, {"sku": "RDA-1Y", "quantity": 1}]
    lines += [{"sku": f"EXTRA-{i}", "quantity": 100_000} for i in range(98)]

    response = post_order(api, order_body(lines=lines))

    assert response.status_code == 201
    assert len(response.json()["lines"]) == 100


def test_requested_start_today_in_japan_is_accepted(api):
    response = post_order(api, order_body(requested_start=timezone.localdate().isoformat()))
    assert response.status_code == 201


def test_owner_and_colleague_see_the_order_but_an_outsider_gets_404(api, colleague_api, outsider_api):
    number = post_order(api, order_body()).json()["number"]

    assert api.get(f"/api/v1/orders/{number}/").status_code == 200
    assert colleague_api.get(f"/api/v1/orders/{number}/").status_code == 200
    outsider = outsider_api.get(f"/api/v1/orders/{number}/")
    assert outsider.status_code == 404
    assert outsider["Content-Type"] == "application/problem+json"
    assert outsider_api.post(f"/api/v1/orders/{number}/cancel/").status_code == 404
    assert [o["number"] for o in colleague_api.get("/api/v1/orders/").json()["results"]] == [number]
    assert outsider_api.get("/api/v1/orders/").json()["results"] == []
    assert Order.objects.get(number=number).status == "received"


def test_order_detail_shows_lines_amounts_and_timeline(api):
    number = post_order(api, order_body()).json()["number"]

    detail = api.get(f"/api/v1/orders/{number}/").json()

    assert detail["po_number"] == "PO-2026-0412"
    assert len(detail["lines"]) == 2
    assert detail["events"][0]["to_status"] == "received"
    assert detail["events"][0]["by"] == "api"


def test_order_list_is_newest_first_paginated_by_cursor_and_filtered_by_status(api):
    numbers = [post_order(api, order_body(po_number=f"PO-{i}")).json()["number"] for i in range(5)]
    Order.objects.filter(number=numbers[0]).update(status=Order.Status.CANCELLED)

    first_page = api.get("/api/v1/orders/?page_size=2").json()
    second_page = api.get(first_page["next"]).json()
    cancelled = api.get("/api/v1/orders/?status=cancelled").json()

    assert [o["number"] for o in first_page["results"]] == [numbers[4], numbers[3]]
    assert [o["number"] for o in second_page["results"]] == [numbers[2], numbers[1]]
    assert [o["number"] for o in cancelled["results"]] == [numbers[0]]


def test_unknown_status_filter_is_a_named_error(api):
    response = api.get("/api/v1/orders/?status=shipped")
    assert response.status_code == 400
    assert field_codes(response) == {"status": "invalid_choice"}


def test_cancel_before_provisioning_succeeds_and_is_recorded(api):
    number = post_order(api, order_body()).json()["number"]

    response = api.post(f"/api/v1/orders/{number}/cancel/")
    again = api.post(f"/api/v1/orders/{number}/cancel/")

    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert again.status_code == 200
    events = OrderEvent.objects.filter(order__number=number, to_status="cancelled")
    assert events.count() == 1


@pytest.mark.parametrize("status", ["provisioning", "documenting", "completed", "rejected"])
def test_cancel_after_provisioning_started_is_409(api, status):
    number = post_order(api, order_body()).json()["number"]
    Order.objects.filter(number=number).update(status=status)

    response = api.post(f"/api/v1/orders/{number}/cancel/")

    assert response.status_code == 409
    assert response.json()["type"] == "order-not-cancellable"
    assert Order.objects.get(number=number).status == status


def test_products_lists_the_active_catalog_with_tiers(api, catalog):
    from tests.factories import ProductFactory

    ProductFactory(sku="OLD-1Y", is_active=False)

    products = api.get("/api/v1/products/").json()

    assert [p["sku"] for p in products] == ["RDA-1Y", "SRA-1Y"]
    rda, sra = products
    assert sra["kind"] == "base" and sra["term_months"] == 12
    assert (sra["family"], sra["base_family"]) == ("SRA", "")
    assert (rda["kind"], rda["family"], rda["base_family"]) == ("addon", "RDA", "SRA")  # runs on SRA of any term
    assert sra["price_tiers"][:2] == [{"min_quantity": 1, "unit_price": 6000}, {"min_quantity": 50, "unit_price": 5400}]


def test_order_for_an_inactive_product_is_accepted_for_review(api):
    from tests.factories import PriceTierFactory, ProductFactory

    PriceTierFactory(product=ProductFactory(sku="OLD-1Y", is_active=False), unit_price=4000)
    response = post_order(api, order_body(lines=[{"sku": "OLD-1Y", "quantity": 2}]))
    assert response.status_code == 201
    assert response.json()["total"] == 8800


def test_a_failed_order_cannot_be_cancelled_once_provisioning_had_started(api):
    from orderdesk.audit import Actor

    number = post_order(api, order_body()).json()["number"]
    order = Order.objects.get(number=number)
    for from_status, to_status in (("approved", "provisioning"), ("provisioning", "failed")):
        OrderEvent.record(order, actor=Actor.system("pipeline"), action=to_status, from_status=from_status, to_status=to_status)
    Order.objects.filter(pk=order.pk).update(status=Order.Status.FAILED)

    response = api.post(f"/api/v1/orders/{number}/cancel/")

    assert response.status_code == 409
    assert response.json()["type"] == "order-not-cancellable"
    assert Order.objects.get(pk=order.pk).status == Order.Status.FAILED


def test_a_failed_order_that_never_provisioned_can_be_cancelled(api):
    number = post_order(api, order_body()).json()["number"]
    Order.objects.filter(number=number).update(status=Order.Status.FAILED)

    assert api.post(f"/api/v1/orders/{number}/cancel/").status_code == 200
