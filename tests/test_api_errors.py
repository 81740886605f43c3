"""Every API error is application/problem+json, never HTML and never a stack trace."""

import json

import pytest
from rest_framework.test import APIClient

from orderdesk.api.throttling import CustomerTokenThrottle
from orders.models import Order
from tests.conftest import order_body

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def assert_problem(response, status: int, problem_type: str):
    assert response.status_code == status
    assert response["Content-Type"] == PROBLEM
    body = json.loads(response.content)
    assert body["status"] == status
    assert body["type"] == problem_type
    assert body["title"] and body["detail"]
    assert "Traceback" not in response.content.decode()
    return body


def test_missing_token_is_401_with_a_challenge(catalog):
    response = APIClient().get("/api/v1/orders/")
    assert_problem(response, 401, "not-authenticated")
    assert response["WWW-Authenticate"] == "Token"


def test_wrong_or_revoked_token_is_401(customer, catalog):
    from django.utils import timezone

    from licensing.models import ApiToken

    token, raw_key = ApiToken.objects.issue(customer=customer)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    assert_problem(client.get("/api/v1/orders/"), 401, "authentication-failed")
    token.revoked_at = timezone.now()
    token.save()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw_key}")
    assert_problem(client.get("/api/v1/orders/"), 401, "authentication-failed")


def test_token_of_an_inactive_customer_is_refused(api, customer):
    customer.is_active = False
    customer.save()
    assert_problem(api.get("/api/v1/orders/"), 401, "authentication-failed")


def test_unknown_api_path_is_404_problem(api):
    assert_problem(api.get("/api/v1/invoices/"), 404, "not-found")
    assert_problem(APIClient().get("/api/nothing-here"), 404, "not-found")


def test_unknown_order_is_404_problem(api):
    assert_problem(api.get("/api/v1/orders/O-2026-999999/"), 404, "not-found")


def test_wrong_method_is_405_with_allow(api):
    response = api.delete("/api/v1/orders/")
    assert_problem(response, 405, "method-not-allowed")
    assert "POST" in response["Allow"]


def test_malformed_json_is_400_naming_the_body(api):
    response = api.post("/api/v1/orders/", data='{"po_number": "PO-1", "lines": [', content_type="application/json")
    body = assert_problem(response, 400, "malformed-request")
    assert body["errors"][0]["code"] == "parse_error"


def test_wrong_content_type_is_415(api):
    response = api.post("/api/v1/orders/", data="po_number=PO-1", content_type="application/x-www-form-urlencoded")
    assert_problem(response, 415, "unsupported-media-type")
    assert Order.objects.count() == 0


def test_oversized_body_is_413_and_nothing_is_created(api, settings):
    settings.API_MAX_BODY_BYTES = 4096
    body = order_body(notes="x" * 5000)
    response = api.post("/api/v1/orders/", data=json.dumps(body), content_type="application/json")
    assert_problem(response, 413, "payload-too-large")
    assert Order.objects.count() == 0


def test_validation_error_lists_field_paths(api):
    response = api.post("/api/v1/orders/", data={"lines": [{"sku": "SRA-1Y", "quantity": 0}]}, format="json")
    body = assert_problem(response, 400, "validation-error")
    assert {e["field"] for e in body["errors"]} == {"po_number", "lines[0].quantity"}


def test_conflict_and_unprocessable_are_problems(api):
    api.post("/api/v1/orders/", data=order_body(), format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert_problem(api.post("/api/v1/orders/", data=order_body(), format="json"), 409, "duplicate-po-number")
    other = order_body(po_number="PO-other")
    assert_problem(api.post("/api/v1/orders/", data=other, format="json", HTTP_IDEMPOTENCY_KEY="k"), 422, "idempotency-key-reused")


def test_throttled_token_gets_429_with_retry_after_and_other_tokens_do_not(api, colleague_api, monkeypatch):
    monkeypatch.setattr(CustomerTokenThrottle, "THROTTLE_RATES", {"customer_token": "3/min"})

    statuses = [api.get("/api/v1/products/").status_code for _ in range(4)]
    limited = api.get("/api/v1/products/")

    assert statuses == [200, 200, 200, 429]
    assert_problem(limited, 429, "rate-limited")
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert colleague_api.get("/api/v1/products/").status_code == 200


def test_unexpected_error_is_500_problem_without_internals(api, monkeypatch):
    def explode(**kwargs):
        raise RuntimeError("database password is hunter2")

    body = order_body()
    monkeypatch.setattr("orders.api.submit.order_submit", explode)
    client = api
    client.raise_request_exception = False

    response = client.post("/api/v1/orders/", data=body, format="json", HTTP_IDEMPOTENCY_KEY="k-500")

    assert_problem(response, 500, "server-error")
    assert "hunter2" not in response.content.decode()
    # The key was released: the retry is processed, not answered with a stored 500.
    monkeypatch.undo()
    assert client.post("/api/v1/orders/", data=body, format="json", HTTP_IDEMPOTENCY_KEY="k-500").status_code == 201


def test_schema_and_docs_are_served(api):
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/orders/" in paths and "/api/v1/orders/{number}/cancel/" in paths
    description = schema.json()["info"]["description"]
    assert "Rate limit" in description and "Retry-After" in description
    assert APIClient().get("/api/docs/").status_code == 200
