"""Validation from devices: the license key alone, without the purchasing token.

It answers the decision and nothing else, is rate-limited per key and per
client address, and judges the server's time unless the device's clock is
within the tolerance.
"""

import json
from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from licensing.models import JAPAN, WorkHoursPolicy
from licensing.services import license_key_revoke
from tests.factories import WorkHoursPolicyFactory, provision

pytestmark = pytest.mark.django_db

VALIDATE = "/api/v1/licenses/validate/"


@pytest.fixture
def keys(customer, catalog):
    """The owner's SRA-1Y key (51 seats, a 12-month term starting today) and a revoked one of the same subscription."""
    usable = provision(customer, catalog["SRA-1Y"], 50, "order-line:1", term_start=timezone.localdate()).license_key
    revoked = provision(customer, catalog["SRA-1Y"], 1, "order-line:2").license_key
    license_key_revoke(license_key=revoked)
    return {"usable": usable.key, "revoked": revoked.key}


def device(address: str = "192.0.2.10") -> APIClient:
    """An employee's PC: no Authorization header."""
    return APIClient(REMOTE_ADDR=address)


def post(client, body, **headers):
    return client.post(VALIDATE, data=json.dumps(body), content_type="application/json", **headers)


def shift_around(now: datetime, *, starts_in: timedelta, lasts: timedelta) -> dict:
    """A policy's fields for a daily shift (every day, no holidays) starting `starts_in` from `now`, Tokyo time."""
    start = (now + starts_in).astimezone(JAPAN)
    end = start + lasts
    return {
        "time_zone": "Asia/Tokyo",
        "working_days": [1, 2, 3, 4, 5, 6, 7],
        "public_holidays": "",
        "start_time": time(start.hour, start.minute),
        "end_time": time(end.hour, end.minute),
    }


def test_a_device_validates_a_key_alone(keys):
    response = post(device(), {"key": keys["usable"]})

    assert response.status_code == 200
    assert response.json() == {"valid": True, "code": "VALID", "mode": None}


def test_a_device_gets_each_decision_code(keys, customer):
    assert post(device(), {"key": keys["revoked"]}).json() == {"valid": False, "code": "SUSPENDED", "mode": None}
    assert post(device(), {"key": "ABCD-EFGH-JKLM-NPQR-STUV"}).json() == {"valid": False, "code": "UNKNOWN_KEY", "mode": None}
    assert post(device(), {"key": f" {keys['usable'].lower()} "}).json()["code"] == "VALID"


def test_a_device_learns_nothing_but_the_decision(keys, customer, settings):
    settings.LICENSE_VALIDATE_CLOCK_TOLERANCE_SECONDS = 300
    WorkHoursPolicyFactory(customer=customer, mode=WorkHoursPolicy.Mode.BLOCK, **shift_around(
        timezone.now(), starts_in=timedelta(hours=3), lasts=timedelta(hours=1)))

    answers = [post(device(), {"key": key}) for key in (keys["usable"], keys["revoked"], "ABCD-EFGH-JKLM-NPQR-STUV")]

    assert [answer.json() for answer in answers] == [
        {"valid": False, "code": "OUTSIDE_WORKING_HOURS", "mode": "block"},
        {"valid": False, "code": "SUSPENDED", "mode": None},
        {"valid": False, "code": "UNKNOWN_KEY", "mode": None},
    ]
    for answer in answers:
        everything = answer.content.decode() + json.dumps(dict(answer.headers), ensure_ascii=False)
        for secret in (customer.code, customer.name, customer.billing_email, "SRA-1Y", "seats", "term", "2027"):
            assert secret not in everything


def test_a_device_with_a_wrong_token_is_refused_not_treated_as_key_only(keys):
    client = device()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = post(client, {"key": keys["usable"]})

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


def test_a_purchasing_token_still_validates_as_before(api, keys, other_customer):
    assert post(api, {"key": keys["usable"]}).json() == {"valid": True, "code": "VALID", "mode": None}
    # A token knows only its own customer's keys; a device holding the key may use it.
    from tests.conftest import client_for

    assert post(client_for(other_customer), {"key": keys["usable"]}).json()["code"] == "UNKNOWN_KEY"


def test_a_purchasing_token_may_ask_about_any_moment(api, keys):
    later = (timezone.now() + timedelta(days=800)).isoformat()

    assert post(api, {"key": keys["usable"], "at": later}).json()["code"] == "EXPIRED"


def test_key_only_validation_is_rate_limited_per_key(keys, settings):
    settings.LICENSE_VALIDATE_KEY_RATE_LIMIT = "3/min"
    settings.LICENSE_VALIDATE_ADDRESS_RATE_LIMIT = "100/min"
    answers = [post(device(f"192.0.2.{n}"), {"key": keys["usable"]}) for n in range(1, 5)]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["type"] == "rate-limited" and refused.json()["status"] == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    # Another key, from the same address, is still answered.
    assert post(device("192.0.2.4"), {"key": keys["revoked"]}).status_code == 200


def test_key_only_validation_is_rate_limited_per_address(keys, settings):
    settings.LICENSE_VALIDATE_KEY_RATE_LIMIT = "100/min"
    settings.LICENSE_VALIDATE_ADDRESS_RATE_LIMIT = "3/min"
    guesses = [post(device("198.51.100.7"), {"key": f"ABCD-EFGH-JKLM-NPQR-STU{n}"}) for n in range(2, 6)]

    assert [answer.status_code for answer in guesses] == [200, 200, 200, 429]
    assert int(guesses[-1]["Retry-After"]) >= 1
    # Garbage from the limited address is refused before its body is read.
    assert post(device("198.51.100.7"), {"nonsense": True}).status_code == 429
    assert post(device("198.51.100.8"), {"key": keys["usable"]}).status_code == 200


def test_the_device_limits_do_not_touch_purchasing_tokens(api, keys, settings):
    settings.LICENSE_VALIDATE_KEY_RATE_LIMIT = "1/min"
    settings.LICENSE_VALIDATE_ADDRESS_RATE_LIMIT = "1/min"

    assert [post(api, {"key": keys["usable"]}).status_code for _ in range(3)] == [200, 200, 200]


def test_a_device_clock_outside_the_tolerance_is_ignored(keys, customer, settings):
    settings.LICENSE_VALIDATE_CLOCK_TOLERANCE_SECONDS = 300
    now = timezone.now()
    # Working hours start in three hours: a device cannot claim it is already then.
    WorkHoursPolicyFactory(customer=customer, mode=WorkHoursPolicy.Mode.BLOCK, **shift_around(
        now, starts_in=timedelta(hours=3), lasts=timedelta(hours=1)))
    claimed = now + timedelta(hours=3, minutes=30)

    response = post(device(), {"key": keys["usable"], "at": claimed.isoformat()})

    assert response.json() == {"valid": False, "code": "OUTSIDE_WORKING_HOURS", "mode": "block"}
    checked_at = datetime.fromisoformat(response["Orderdesk-Checked-At"])
    assert abs(checked_at - now) < timedelta(seconds=30)
    # The purchasing system may still ask about that moment.
    from tests.conftest import client_for

    assert post(client_for(customer), {"key": keys["usable"], "at": claimed.isoformat()}).json()["code"] == "VALID"


def test_a_device_clock_inside_the_tolerance_is_used(keys, customer, settings):
    settings.LICENSE_VALIDATE_CLOCK_TOLERANCE_SECONDS = 300
    now = timezone.now()
    WorkHoursPolicyFactory(customer=customer, mode=WorkHoursPolicy.Mode.BLOCK, **shift_around(
        now, starts_in=timedelta(minutes=3), lasts=timedelta(hours=1)))
    claimed = now + timedelta(minutes=4)

    response = post(device(), {"key": keys["usable"], "at": claimed.isoformat()})

    assert response.json() == {"valid": True, "code": "VALID", "mode": None}
    assert datetime.fromisoformat(response["Orderdesk-Checked-At"]) == claimed
    assert post(device(), {"key": keys["usable"]}).json()["code"] == "OUTSIDE_WORKING_HOURS"  # now is before the shift


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({}, "key", "required"),
        ({"key": ""}, "key", "blank"),
        ({"key": 12345678}, "key", "invalid"),
        ({"key": "ABCD-EFGH-JKLM-NPQR-STUV", "at": "tomorrow"}, "at", "invalid"),
    ],
)
def test_an_invalid_device_request_is_a_400_naming_the_field(keys, body, field, code):
    response = post(device(), body)

    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert {"field": field, "code": code} in [{"field": e["field"], "code": e["code"]} for e in response.json()["errors"]]


def test_a_device_idempotency_key_is_accepted_and_every_answer_is_fresh(keys):
    first = post(device(), {"key": keys["usable"]}, HTTP_IDEMPOTENCY_KEY="boot-1")
    second = post(device(), {"key": keys["usable"]}, HTTP_IDEMPOTENCY_KEY="boot-1")

    assert first.status_code == second.status_code == 200
    assert not second.has_header("Idempotent-Replayed")


def test_the_schema_documents_key_only_validation_and_its_limits(api, settings):
    schema = api.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/licenses/validate/"]["post"]

    assert {} in operation["security"] and {"customerToken": []} in operation["security"]
    assert {"200", "400", "401", "413", "415", "429"} <= set(operation["responses"])
    assert settings.LICENSE_VALIDATE_KEY_RATE_LIMIT in operation["description"]
    assert settings.LICENSE_VALIDATE_ADDRESS_RATE_LIMIT in operation["description"]
    assert "Orderdesk-Checked-At" in operation["responses"]["200"]["headers"]
    assert "per client address" in schema["info"]["description"]


def test_a_device_request_with_unknown_fields_is_answered_like_any_other(keys):
    plain = post(device("192.0.2.20"), {"key": keys["usable"]})
    with_extra = post(device("192.0.2.21"), {"key": keys["usable"], "client": "remote-access 4.2"})

    assert plain.status_code == with_extra.status_code == 200
    assert plain.content == with_extra.content
    assert plain["Content-Type"] == with_extra["Content-Type"] == "application/json"


def test_every_key_only_request_counts_once_against_its_address(keys, settings):
    settings.LICENSE_VALIDATE_KEY_RATE_LIMIT = "100/min"
    settings.LICENSE_VALIDATE_ADDRESS_RATE_LIMIT = "3/min"
    pc = device("203.0.113.5")

    assert post(pc, {"key": 123}).status_code == 400  # counted, and the field named
    assert post(pc, {"key": keys["usable"], "extra": 1}).status_code == 200
    assert post(pc, {"key": keys["usable"]}).status_code == 200
    assert post(pc, {"key": keys["usable"]}).status_code == 429


def test_a_body_that_is_not_json_is_a_400_naming_it(keys):
    response = device().post(VALIDATE, data=b'{"key": ', content_type="application/json")

    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert "JSON" in response.json()["detail"]


def test_a_body_that_is_not_json_at_all_is_a_415(keys):
    response = device().post(VALIDATE, data="key=ABCD", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 415 and response["Content-Type"] == "application/problem+json"


def test_a_key_is_counted_however_it_is_typed(keys, settings):
    settings.LICENSE_VALIDATE_KEY_RATE_LIMIT = "2/min"
    settings.LICENSE_VALIDATE_ADDRESS_RATE_LIMIT = "100/min"
    spellings = [keys["usable"], f" {keys['usable'].lower()} ", keys["usable"].lower()]

    assert [post(device(f"192.0.2.{n}"), {"key": key}).status_code for n, key in enumerate(spellings, 30)] == [200, 200, 429]



def test_a_device_cannot_escape_its_address_limit_with_a_forwarded_for_header(keys, settings):
    settings.LICENSE_VALIDATE_KEY_RATE_LIMIT = "100/min"
    settings.LICENSE_VALIDATE_ADDRESS_RATE_LIMIT = "2/min"
    settings.TRUSTED_PROXY_COUNT = 0
    pc = device("198.51.100.50")

    answers = [post(pc, {"key": keys["usable"]}, HTTP_X_FORWARDED_FOR=f"10.0.0.{n}") for n in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 429]


def test_behind_a_proxy_each_device_is_limited_by_its_own_forwarded_address(keys, settings):
    settings.LICENSE_VALIDATE_KEY_RATE_LIMIT = "100/min"
    settings.LICENSE_VALIDATE_ADDRESS_RATE_LIMIT = "1/min"
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = device("10.0.0.1")

    # What the client put further left proves nothing; the proxy's own entry (rightmost) counts.
    first = post(proxy, {"key": keys["usable"]}, HTTP_X_FORWARDED_FOR="203.0.113.1")
    other_device = post(proxy, {"key": keys["usable"]}, HTTP_X_FORWARDED_FOR="203.0.113.2")
    spoofing = post(proxy, {"key": keys["usable"]}, HTTP_X_FORWARDED_FOR="192.0.2.99, 203.0.113.1")

    assert [first.status_code, other_device.status_code, spoofing.status_code] == [200, 200, 429]
