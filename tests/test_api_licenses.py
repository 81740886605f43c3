"""The customer's licenses through the API: list, seat history and key validation."""

import json
from datetime import date, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from licensing.models import JAPAN, LicenseKey, SeatLedgerEntry, Subscription, generate_license_key
from licensing.services import license_key_revoke, seats_adjust
from tests.factories import WorkHoursPolicyFactory, provision

pytestmark = pytest.mark.django_db

MONDAY_10_TOKYO = "2026-12-07T10:00:00+09:00"
MONDAY_20_TOKYO = "2026-12-07T20:00:00+09:00"


@pytest.fixture
def licenses(customer, catalog):
    """The owner: 50 SRA-1Y seats (then 5 returned) and 20 RDA-1Y seats, with keys; one SRA key revoked."""
    sra = provision(customer, catalog["SRA-1Y"], 50, "order-line:1", term_start=date(2026, 4, 1))
    rda = provision(customer, catalog["RDA-1Y"], 20, "order-line:2", term_start=date(2026, 4, 1))
    seats_adjust(subscription=sra.entry.subscription, quantity=-5, reference="correction:1", reason="5 seats returned")
    # A key replaced by a new one (staff revoke the old): the old key row stays, revoked.
    revoked = LicenseKey.objects.create(subscription=sra.entry.subscription, key=generate_license_key(), reference="order-line:1:old")
    license_key_revoke(license_key=revoked)
    return {"sra": sra.license_key, "rda": rda.license_key, "revoked": revoked}


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
    assert response.json()["next"] is None
    assert response.json()["results"] == [
        {
            "sku": "RDA-1Y",
            "name": "リモートデスクトップ アドオン 1年ライセンス",
            "seats": 20,
            "term_start": "2026-04-01",
            "term_end": "2027-03-31",
            "status": "active",
            "keys": [licenses["rda"].key],
            "keys_count": 1,
            "keys_url": "http://testserver/api/v1/licenses/RDA-1Y/keys/",
        },
        {
            "sku": "SRA-1Y",
            "name": "セキュアリモートアクセス 1年ライセンス",
            "seats": 45,
            "term_start": "2026-04-01",
            "term_end": "2027-03-31",
            "status": "active",
            "keys": [licenses["sra"].key],
            "keys_count": 1,
            "keys_url": "http://testserver/api/v1/licenses/SRA-1Y/keys/",
        },
    ]


def test_a_colleague_token_sees_the_same_licenses(api, colleague_api, licenses):
    assert colleague_api.get("/api/v1/licenses/").json() == api.get("/api/v1/licenses/").json()


def test_an_outsider_sees_none_of_the_owners_licenses(outsider_api, licenses):
    response = outsider_api.get("/api/v1/licenses/")

    assert response.status_code == 200 and response.json()["results"] == []


def test_listing_licenses_takes_a_fixed_number_of_queries(api, licenses, django_assert_max_num_queries):
    # token lookup, subscriptions with seats, their keys (throttle counters live in the cache)
    with django_assert_max_num_queries(3):
        assert api.get("/api/v1/licenses/").status_code == 200


def test_history_lists_the_ledger_oldest_first_with_the_running_seat_count(api, colleague_api, licenses):
    response = api.get("/api/v1/licenses/SRA-1Y/history/")

    assert response.status_code == 200
    rows = [{k: row[k] for k in ("quantity", "seats_after", "reason", "reference")} for row in response.json()["results"]]
    assert rows == [
        {"quantity": 50, "seats_after": 50, "reason": "provisioned for order-line:1", "reference": "order-line:1"},
        {"quantity": -5, "seats_after": 45, "reason": "5 seats returned", "reference": "correction:1"},
    ]
    assert all(row["at"].endswith("+09:00") for row in response.json()["results"])
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


# --- Pages: a long ledger or many keys never come in one response ----------------------------


def follow(client, url, **params) -> list[dict]:
    """Every result of a cursor-paginated list, page by page."""
    results, response = [], client.get(url, params)
    while True:
        assert response.status_code == 200, response.content
        results += response.json()["results"]
        if response.json()["next"] is None:
            return results
        response = client.get(response.json()["next"])


def add_keys(subscription, count):
    LicenseKey.objects.bulk_create(
        LicenseKey(subscription=subscription, key=generate_license_key(), reference=f"bulk:{subscription.pk}:{n}")
        for n in range(count)
    )


def add_ledger_entries(subscription, quantities, start, step=timedelta(hours=1)):
    """Entries at start, start + step, …, as if they had been recorded then."""
    SeatLedgerEntry.objects.bulk_create(
        SeatLedgerEntry(subscription=subscription, quantity=quantity, reference=f"entry:{start.isoformat()}:{n}", created_at=start + n * step)
        for n, quantity in enumerate(quantities)
    )


LATER = datetime(2030, 1, 1, 9, 0, tzinfo=JAPAN)  # after everything the fixtures record now


def test_the_license_list_is_cursor_paginated(api, licenses):
    first = api.get("/api/v1/licenses/", {"page_size": 1}).json()
    second = api.get(first["next"]).json()

    assert [row["sku"] for row in first["results"]] == ["RDA-1Y"]
    assert [row["sku"] for row in second["results"]] == ["SRA-1Y"] and second["next"] is None
    assert follow(api, "/api/v1/licenses/", page_size=1) == api.get("/api/v1/licenses/").json()["results"]


def test_a_subscription_with_many_keys_lists_the_first_hundred_and_links_to_all_of_them(api, licenses):
    sra = Subscription.objects.get(product__sku="SRA-1Y")
    add_keys(sra, 1000)
    expected = list(LicenseKey.objects.filter(subscription=sra, revoked_at=None).order_by("issued_at", "id").values_list("key", flat=True))

    response = api.get("/api/v1/licenses/")
    row = next(row for row in response.json()["results"] if row["sku"] == "SRA-1Y")

    assert row["keys"] == expected[:100]
    assert row["keys_count"] == 1001
    assert len(response.content) < 10_000  # a page of subscriptions, not of every key they have
    assert [key["key"] for key in follow(api, row["keys_url"], page_size=200)] == expected


def test_the_keys_of_a_subscription_leave_out_revoked_keys_and_other_customers(api, outsider_api, licenses):
    keys = api.get("/api/v1/licenses/SRA-1Y/keys/").json()

    assert [key["key"] for key in keys["results"]] == [licenses["sra"].key]
    assert keys["results"][0]["issued_at"].endswith("+09:00")
    assert_problem(outsider_api.get("/api/v1/licenses/SRA-1Y/keys/"), 404, "not-found")


def test_the_history_pages_oldest_first_with_the_running_seat_count_across_pages(api, licenses):
    sra = Subscription.objects.get(product__sku="SRA-1Y")
    quantities = [(n % 7) - 2 or 5 for n in range(120)]  # +5, -1, … : never below zero after the fixture's 45 seats
    add_ledger_entries(sra, quantities, LATER)

    first_page = api.get("/api/v1/licenses/SRA-1Y/history/").json()
    entries = follow(api, "/api/v1/licenses/SRA-1Y/history/")

    assert len(first_page["results"]) == 50 and first_page["next"] is not None
    assert [entry["quantity"] for entry in entries] == [50, -5, *quantities]
    running = 0
    for entry in entries:
        running += entry["quantity"]
        assert entry["seats_after"] == running
    assert entries[-1]["seats_after"] == api.get("/api/v1/licenses/").json()["results"][1]["seats"]


def test_the_history_takes_the_same_few_queries_however_long_the_ledger(api, licenses, django_assert_max_num_queries):
    add_ledger_entries(Subscription.objects.get(product__sku="SRA-1Y"), [1] * 500, LATER)

    # token, the subscription, the page of entries, the seats before it
    with django_assert_max_num_queries(4):
        response = api.get("/api/v1/licenses/SRA-1Y/history/", {"page_size": 200})

    assert len(response.json()["results"]) == 200


def test_history_since_starts_at_a_moment_and_keeps_the_running_count(api, licenses):
    add_ledger_entries(Subscription.objects.get(product__sku="SRA-1Y"), [1, 2, 3, 4], LATER, step=timedelta(days=1))

    def since(value):
        response = api.get("/api/v1/licenses/SRA-1Y/history/", {"since": value})
        assert response.status_code == 200, response.content
        return [(entry["quantity"], entry["seats_after"]) for entry in response.json()["results"]]

    assert since("2030-01-03T09:00:00+09:00") == [(3, 51), (4, 55)]
    assert since("2030-01-03T00:00:01Z") == [(4, 55)]  # 09:00:01 in Japan
    assert since("2030-01-03T09:00:00") == [(3, 51), (4, 55)]  # no offset: Japan time
    assert since("2030-01-03") == [(3, 51), (4, 55)]  # a date: from midnight, Japan time
    assert since("2031-01-01T00:00:00+09:00") == []
    assert len(since("")) == 6  # empty, as in a form: no start


@pytest.mark.parametrize("value", ["yesterday", "2030-13-01", "2030-01-03T25:00:00", "1700000000", "2030-01-03T09:00:00+25:00"])
def test_an_invalid_since_is_a_400_naming_the_parameter(api, licenses, value):
    response = api.get("/api/v1/licenses/SRA-1Y/history/", {"since": value})

    assert_problem(response, 400, "validation-error")
    assert [error["field"] for error in response.json()["errors"]] == ["since"]


def test_the_schema_documents_the_license_pages_and_since(api):
    schema = api.get("/api/schema/?format=json").json()

    history = schema["paths"]["/api/v1/licenses/{sku}/history/"]["get"]
    parameters = {parameter["name"]: parameter for parameter in history["parameters"]}
    assert parameters["since"]["schema"] == {"type": "string", "format": "date-time"}
    assert {"cursor", "page_size"} <= set(parameters)
    assert {"200", "400", "404"} <= set(history["responses"])
    for path in ("/api/v1/licenses/", "/api/v1/licenses/{sku}/history/", "/api/v1/licenses/{sku}/keys/"):
        ok = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        page = schema["components"]["schemas"][ok.rsplit("/", 1)[-1]]
        assert {"next", "results"} <= set(page["properties"]), path
    subscription = schema["components"]["schemas"]["Subscription"]["properties"]
    assert {"keys", "keys_count", "keys_url"} <= set(subscription)
