"""API errors speak the request's language (Accept-Language), Japanese by default, one language per response."""

import json
import re

import pytest

from tests.conftest import order_body

pytestmark = pytest.mark.django_db

JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")


def texts(response) -> list[str]:
    body = response.json()
    return [body["title"], body["detail"], *(error["message"] for error in body.get("errors", []))]


def errors(api, **language):
    """One answer of each kind of error the API gives."""
    post = lambda body, **headers: api.post("/api/v1/orders/", body, content_type="application/json", **language, **headers)  # noqa: E731
    api.post("/api/v1/orders/", json.dumps(order_body(po_number="PO-TAKEN")), content_type="application/json")
    return {
        "fields": post(json.dumps(order_body(requested_start="2000-01-01", lines=[{"sku": "NOPE", "quantity": "5"}]))),
        "past": post(json.dumps(order_body(requested_start="2000-01-01"))),
        "malformed": post("{not json"),
        "nested": post("[" * 100 + "]" * 100),
        "duplicate": post(json.dumps(order_body(po_number="PO-TAKEN"))),
        "key": post(json.dumps(order_body()), HTTP_IDEMPOTENCY_KEY="キー"),
        "not found": api.get("/api/v1/orders/O-2026-999999/", **language),
        "status": api.get("/api/v1/orders/?status=unknown", **language),
        "page size": api.get("/api/v1/orders/?page_size=0", **language),
        "month": api.get("/api/v1/licenses/outside-hours/?month=2026-13", **language),
        "license key": api.post("/api/v1/licenses/validate/", {"key": "AB\u202eCD"}, format="json", **language),
        "null body": api.post("/api/v1/licenses/validate/", "null", content_type="application/json", **language),
        "no such path": api.get("/api/v1/nothing/", **language),
    }


def test_errors_are_in_japanese_by_default(api):
    for kind, response in errors(api).items():
        assert response.status_code >= 400 and response["Content-Type"] == "application/problem+json", kind
        for text in texts(response):
            assert JAPANESE.search(text), (kind, text)


def test_errors_follow_accept_language_english_in_one_language(api):
    for kind, response in errors(api, HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.8").items():
        for text in texts(response):
            assert not JAPANESE.search(text), (kind, text)


def test_the_past_start_day_is_no_longer_english_among_japanese(api):
    response = api.post("/api/v1/orders/", order_body(requested_start="2000-01-01"), format="json")

    message = response.json()["errors"][0]
    assert message["field"] == "requested_start" and message["message"].startswith("過去の日付は指定できません")
