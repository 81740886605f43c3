"""The customer's licenses through the API: list, seat history and key validation."""

import json
from datetime import date

import pytest
from rest_framework.test import APIClient

from licensing.services import license_key_issue, license_key_revoke, seats_adjust, seats_provision
from tests.factories import WorkHoursPolicyFactory

pytestmark = pytest.mark.django_db

MONDAY_10_TOKYO = "2026-12-07T10:00:00+09:00"
MONDAY_20_TOKYO = "2026-12-07T20:00:00+09:00"


@pytest.fixture
def licenses(customer, catalog):
    """The owner: 50 SRA-1Y seats (then 5 returned) and 20 RDA-1Y seats, with keys; one SRA key revoked."""
    sra = seats_provision(
        customer=customer, product=catalog["SRA-1Y"], quantity=50, reference="order-line:1", term_start=date(2026, 4, 1)
    ).subscription
    rda = seats_provision(
        customer=customer, product=catalog["RDA-1Y"], quantity=20, reference="order-line:2", term_start=date(2026, 4, 1)
    ).subscription
    seats_adjust(subscription=sra, quantity=-5, reference="correction:1", reason="5 seats returned")
    keys = {
        "sra": license_key_issue(subscription=sra, reference="order-line:1"),
        "rda": license_key_issue(subscription=rda, reference="order-line:2"),
        "revoked": license_key_issue(subscription=sra, reference="order-line:1:old"),
    }
    license_key_revoke(license_key=keys["revoked"])
    return keys


def validate(client, body, **headers):
    return client.post("/api/v1/licenses/validate/", data=json.dumps(body), content_type="application/json", **headers)


def assert_problem(response, status: int, problem_type: str):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == problem_type
    assert response.json()["status"] == status


def test_owner_lists_subscriptions_with_ledger_seats_and_unrevoked_keys(api, licenses):
    response = api.get("/api/v1/licenses/")

    assert response.status_code == 200
    assert response.json() == [
        {
            "sku": "RDA-1Y",
            "name": "リモートデスクトップ アドオン 1年ライセンス",
            "seats": 20,
            "term_start": "2026-04-01",
            "term_end": "2027-03-31",
            "status": "active",
            "keys": [licenses["rda"].key],
        },
        {
            "sku": "SRA-1Y",
            "name": "セキュアリモートアクセス 1年ライセンス",
            "seats": 45,
            "term_start": "2026-04-01",
            "term_end": "2027-03-31",
            "status": "active",
            "keys": [licenses["sra"].key],
        },
    ]


def test_a_colleague_token_sees_the_same_licenses(api, colleague_api, licenses):
    assert colleague_api.get("/api/v1/licenses/").json() == api.get("/api/v1/licenses/").json()


def test_an_outsider_sees_none_of_the_owners_licenses(outsider_api, licenses):
    response = outsider_api.get("/api/v1/licenses/")

    assert response.status_code == 200 and response.json() == []


def test_listing_licenses_takes_a_fixed_number_of_queries(api, licenses, django_assert_max_num_queries):
    # token lookup, subscriptions with seats, their keys (throttle counters live in the cache)
    with django_assert_max_num_queries(3):
        assert api.get("/api/v1/licenses/").status_code == 200


def test_history_lists_the_ledger_oldest_first_with_the_running_seat_count(api, colleague_api, licenses):
    response = api.get("/api/v1/licenses/SRA-1Y/history/")

    assert response.status_code == 200
    rows = [{k: row[k] for k in ("quantity", "seats_after", "reason", "reference")} for row in response.json()]
    assert rows == [
        {"quantity": 50, "seats_after": 50, "reason": "provisioned for order-line:1", "reference": "order-line:1"},
        {"quantity": -5, "seats_after": 45, "reason": "5 seats returned", "reference": "correction:1"},
    ]
    assert all(row["at"].endswith("+09:00") for row in response.json())
    assert colleague_api.get("/api/v1/licenses/SRA-1Y/history/").json() == response.json()


def test_history_of_another_customers_subscription_is_404(outsider_api, licenses):
    assert_problem(outsider_api.get("/api/v1/licenses/SRA-1Y/history/"), 404, "not-found")


def test_history_of_a_sku_without_a_subscription_is_404(api, licenses):
    assert_problem(api.get("/api/v1/licenses/SRA-3Y/history/"), 404, "not-found")
    assert_problem(api.get("/api/v1/licenses/NO-SUCH-SKU/history/"), 404, "not-found")


def test_owner_and_colleague_validate_a_key(api, colleague_api, licenses):
    for client in (api, colleague_api):
        response = validate(client, {"key": licenses["sra"].key, "at": MONDAY_10_TOKYO})

        assert response.status_code == 200
        assert response.json() == {"valid": True, "code": "VALID", "mode": None}


def test_an_outsider_validating_the_owners_key_gets_unknown_key(outsider_api, licenses):
    response = validate(outsider_api, {"key": licenses["sra"].key})

    assert response.status_code == 200
    assert response.json() == {"valid": False, "code": "UNKNOWN_KEY", "mode": None}


def test_validate_answers_the_work_hours_decision(api, customer, licenses):
    WorkHoursPolicyFactory(customer=customer, mode="block")

    assert validate(api, {"key": licenses["sra"].key, "at": MONDAY_10_TOKYO}).json()["code"] == "VALID"
    assert validate(api, {"key": licenses["sra"].key, "at": MONDAY_20_TOKYO}).json() == {
        "valid": False,
        "code": "OUTSIDE_WORKING_HOURS",
        "mode": "block",
    }


def test_validate_without_at_checks_now(api, licenses):
    response = validate(api, {"key": licenses["revoked"].key})

    assert response.json() == {"valid": False, "code": "SUSPENDED", "mode": None}


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"at": MONDAY_10_TOKYO}, "key", "required"),
        ({"key": ""}, "key", "blank"),
        ({"key": 12345678}, "key", "invalid"),
        ({"key": "K" * 65}, "key", "max_length"),
        ({"key": "ABCD-EFGH-JKLM-NPQR-STUV", "at": "next monday"}, "at", "invalid"),
        ({"key": "ABCD-EFGH-JKLM-NPQR-STUV", "at": "2026-13-01T10:00:00"}, "at", "invalid"),
    ],
)
def test_an_invalid_validate_request_is_a_400_naming_the_field(api, body, field, code):
    response = validate(api, body)

    assert_problem(response, 400, "validation-error")
    assert {"field": field, "code": code} in [{"field": e["field"], "code": e["code"]} for e in response.json()["errors"]]


def test_validate_with_malformed_json_is_a_problem(api):
    response = api.post("/api/v1/licenses/validate/", data="{not json", content_type="application/json")

    assert_problem(response, 400, "malformed-request")


def test_licenses_need_a_token(licenses):
    anonymous = APIClient()

    assert_problem(anonymous.get("/api/v1/licenses/"), 401, "not-authenticated")
    assert_problem(anonymous.get("/api/v1/licenses/SRA-1Y/history/"), 401, "not-authenticated")
    # Validation without a token is a device's, with the key alone (tests/test_api_license_devices.py).


def test_validate_only_accepts_post(api):
    assert_problem(api.get("/api/v1/licenses/validate/"), 405, "method-not-allowed")


def test_validate_with_the_same_idempotency_key_replays_the_stored_answer(api, licenses):
    body = {"key": licenses["sra"].key, "at": MONDAY_10_TOKYO}
    first = validate(api, body, HTTP_IDEMPOTENCY_KEY="check-1")
    license_key_revoke(license_key=licenses["sra"])  # a fresh check would now say SUSPENDED

    second = validate(api, body, HTTP_IDEMPOTENCY_KEY="check-1")

    assert first.json() == {"valid": True, "code": "VALID", "mode": None}
    assert second.status_code == 200 and second["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert_problem(validate(api, {"key": licenses["rda"].key}, HTTP_IDEMPOTENCY_KEY="check-1"), 422, "idempotency-key-reused")


def test_the_schema_documents_the_license_endpoints(api):
    schema = api.get("/api/schema/?format=json").json()

    assert {"/api/v1/licenses/", "/api/v1/licenses/{sku}/history/", "/api/v1/licenses/validate/"} <= set(schema["paths"])
    validate_post = schema["paths"]["/api/v1/licenses/validate/"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in validate_post["parameters"]]
    assert "200" in validate_post["responses"] and "400" in validate_post["responses"]
