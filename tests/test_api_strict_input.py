"""What the API accepts is what the contract says, sent over HTTP: a 400 naming the field otherwise, nothing stored.

`quantity` a JSON integer; `requested_start` not in the past and at most
ORDER_REQUESTED_START_MAX_DAYS ahead; no control or text-direction characters
in single-line fields (PO number, SKU, a quote acceptance's PO number, a license key).
"""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from licensing.models import JAPAN
from orders.models import Order
from tests.conftest import order_body
from tests.factories import sent_quote

pytestmark = pytest.mark.django_db


def post_raw(api, path: str, raw: str, **headers):
    return api.post(path, raw, content_type="application/json", **headers)


def refused_fields(response) -> list[tuple[str, str]]:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    return [(error["field"], error["code"]) for error in response.json()["errors"]]


@pytest.mark.parametrize("quantity", ['"50"', '"５０"', '"٥٠"', '"1_000"', '" 7 "', "50.0", "1e2", "true", "[50]", "{}"])
def test_a_quantity_that_is_not_a_json_integer_is_400_naming_the_line(api, quantity):
    raw = '{"po_number": "PO-Q", "lines": [{"sku": "SRA-1Y", "quantity": 1}, {"sku": "RDA-1Y", "quantity": %s}]}' % quantity

    assert refused_fields(post_raw(api, "/api/v1/orders/", raw)) == [("lines[1].quantity", "invalid")]
    assert Order.objects.count() == 0


def test_a_quantity_written_as_a_json_integer_is_accepted(api):
    raw = '{"po_number": "PO-Q", "lines": [{"sku": "SRA-1Y", "quantity": 1000}]}'

    assert post_raw(api, "/api/v1/orders/", raw).status_code == 201


def test_requested_start_is_bounded_by_the_setting(api, settings):
    settings.ORDER_REQUESTED_START_MAX_DAYS = 30
    today = timezone.localdate(timezone=JAPAN)

    for number, day in enumerate(["9999-12-31", (today + timedelta(days=31)).isoformat()]):
        response = api.post("/api/v1/orders/", order_body(po_number=f"PO-FAR-{number}", requested_start=day), format="json")
        assert refused_fields(response) == [("requested_start", "too_far")]
    past = api.post("/api/v1/orders/", order_body(po_number="PO-PAST", requested_start=(today - timedelta(days=1)).isoformat()), format="json")
    assert refused_fields(past) == [("requested_start", "past_date")]
    assert Order.objects.count() == 0

    for number, day in enumerate([today, today + timedelta(days=30)]):
        response = api.post("/api/v1/orders/", order_body(po_number=f"PO-NEAR-{number}", requested_start=day.isoformat()), format="json")
        assert response.status_code == 201 and response.json()["requested_start"] == day.isoformat()


def test_requested_start_defaults_to_a_year_ahead(settings):
    from orderdesk.settings import ORDER_REQUESTED_START_MAX_DAYS

    assert ORDER_REQUESTED_START_MAX_DAYS == 365


REFUSED = ["\x00", "\x07", "\x1b[31m", "\x7f", "\x85", "\u202e", "\u202a", "\u2066", "\u200f", "\u061c", "\n", "\r", "\t"]


@pytest.mark.parametrize("character", REFUSED, ids=lambda c: f"U+{ord(c[0]):04X}")
def test_control_and_text_direction_characters_are_refused_in_single_line_fields(api, customer, catalog, character):
    quote = sent_quote(customer=customer, lines=[(catalog["SRA-1Y"], 5)])
    bodies = [
        ("/api/v1/orders/", order_body(po_number=f"PO{character}1"), "po_number"),
        ("/api/v1/orders/", order_body(lines=[{"sku": f"SRA{character}-1Y", "quantity": 1}]), "lines[0].sku"),
        (f"/api/v1/quotes/{quote.number}/accept/", {"po_number": f"PO{character}2"}, "po_number"),
        ("/api/v1/licenses/validate/", {"key": f"ABCD{character}EFGH"}, "key"),
    ]
    for path, body, field in bodies:
        response = api.post(path, json.dumps(body), content_type="application/json")
        assert (field, "invalid_character") in refused_fields(response), path
    assert Order.objects.count() == 0


def test_notes_keep_line_breaks_and_tabs_but_refuse_text_direction_overrides(api):
    kept = api.post("/api/v1/orders/", order_body(po_number="PO-N1", notes="一行目\r\n二行目\tタブ"), format="json")
    assert kept.status_code == 201 and kept.json()["notes"] == "一行目\r\n二行目\tタブ"

    refused = api.post("/api/v1/orders/", order_body(po_number="PO-N2", notes="見積\u202e書"), format="json")
    assert refused_fields(refused) == [("notes", "invalid_character")]


@pytest.mark.parametrize("path", ["/api/v1/licenses/outside-hours/?format=&month=2026-10", "/api/v1/orders/?format="])
def test_an_empty_format_is_404_naming_the_formats_there_are(api, path):
    response = api.get(path)

    assert response.status_code == 404, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert "json" in response.json()["detail"]


def test_a_format_the_operation_has_is_still_chosen(api):
    response = api.get("/api/v1/licenses/outside-hours/?format=csv&month=2026-10")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
