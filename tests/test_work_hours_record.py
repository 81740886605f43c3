"""The record the unions asked for: outside-hours validations as rows, the others counted per key and day,
a monthly CSV for the customer, a count per customer for staff, and pruning after the retention."""

import csv
import io
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from licensing.models import LicenseKey, OutsideHoursValidation, ValidationDayCount, WorkHoursPolicy
from licensing.tasks import prune_work_hours_record
from licensing.validation import license_check, work_hours_record_prune
from tests.factories import CustomerFactory, WorkHoursPolicyFactory, provision

pytestmark = pytest.mark.django_db

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")


def tokyo(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=TOKYO)


def key_of(customer, product, reference: str) -> str:
    return provision(customer, product, 10, reference, term_start=date(2026, 4, 1)).license_key.key


@pytest.fixture
def key(customer, catalog):
    return key_of(customer, catalog["SRA-1Y"], "order-line:1")


def csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_a_validation_outside_hours_is_recorded_with_key_time_decision_and_mode(customer, key):
    WorkHoursPolicyFactory(customer=customer, mode=WorkHoursPolicy.Mode.BLOCK)

    decision = license_check(key=key, at=tokyo(date(2026, 12, 7), 20))

    assert decision.code == "OUTSIDE_WORKING_HOURS"
    row = OutsideHoursValidation.objects.get()
    assert (row.customer, row.license_key.key, row.at, row.mode, row.allowed, row.time_zone) == (
        customer, key, tokyo(date(2026, 12, 7), 20), "block", False, "Asia/Tokyo"
    )
    assert not ValidationDayCount.objects.exists()


def test_warn_mode_records_the_use_as_allowed(customer, key):
    WorkHoursPolicyFactory(customer=customer, mode=WorkHoursPolicy.Mode.WARN)

    license_check(key=key, at=tokyo(date(2027, 1, 1), 10))  # 元日

    assert OutsideHoursValidation.objects.values_list("mode", "allowed").get() == ("warn", True)


def test_validations_inside_hours_are_counted_per_key_and_day_not_stored_one_by_one(customer, catalog, key):
    WorkHoursPolicyFactory(customer=customer)
    other_key = key_of(customer, catalog["RDA-1Y"], "order-line:2")

    for hour in (9, 12, 17):
        license_check(key=key, at=tokyo(date(2026, 12, 7), hour))
    license_check(key=key, at=tokyo(date(2026, 12, 8), 10))
    license_check(key=other_key, at=tokyo(date(2026, 12, 7), 10))

    counts = {(row.license_key.key, row.day): row.allowed for row in ValidationDayCount.objects.select_related("license_key")}
    assert counts == {(key, date(2026, 12, 7)): 3, (key, date(2026, 12, 8)): 1, (other_key, date(2026, 12, 7)): 1}
    assert not OutsideHoursValidation.objects.exists()


def test_the_day_of_a_count_is_the_policys_day(catalog):
    new_yorker = CustomerFactory(code="NYC", time_zone="America/New_York")
    key = key_of(new_yorker, catalog["SRA-1Y"], "order-line:ny")
    WorkHoursPolicyFactory(customer=new_yorker, time_zone="America/New_York", public_holidays="US")

    license_check(key=key, at=datetime(2026, 12, 7, 17, 0, tzinfo=NEW_YORK))  # already Tuesday in Tokyo

    assert ValidationDayCount.objects.get().day == date(2026, 12, 7)


def test_nothing_is_recorded_without_a_policy_or_for_other_answers(customer, key):
    license_check(key=key, at=tokyo(date(2026, 12, 7), 22))  # no policy: VALID, nothing to record
    WorkHoursPolicyFactory(customer=customer)
    license_check(key="ABCD-EFGH-JKLM-NPQR-STUV", at=tokyo(date(2026, 12, 7), 22))
    license_check(key=key, at=tokyo(date(2027, 6, 1), 22))  # EXPIRED outranks the hours

    assert not OutsideHoursValidation.objects.exists() and not ValidationDayCount.objects.exists()


def test_a_device_validation_through_the_api_is_recorded(customer, key, settings):
    from rest_framework.test import APIClient

    WorkHoursPolicyFactory(customer=customer, working_days=[1, 2, 3, 4, 5, 6, 7], public_holidays="",
                           start_time=time(0, 0), end_time=time(0, 1), mode=WorkHoursPolicy.Mode.WARN)
    response = APIClient().post("/api/v1/licenses/validate/", {"key": key}, format="json")

    assert response.json() == {"valid": True, "code": "OUTSIDE_WORKING_HOURS", "mode": "warn"}
    assert OutsideHoursValidation.objects.get().at == datetime.fromisoformat(response["Orderdesk-Checked-At"])


@pytest.fixture
def december_record(customer, other_customer, catalog, key):
    """Outside-hours rows of the owner around December 2026 (Tokyo), and one of the outsider."""
    WorkHoursPolicyFactory(customer=customer, mode=WorkHoursPolicy.Mode.BLOCK)
    WorkHoursPolicyFactory(customer=other_customer, mode=WorkHoursPolicy.Mode.WARN)
    outsiders_key = key_of(other_customer, catalog["SRA-1Y"], "order-line:99")
    moments = [
        tokyo(date(2026, 11, 30), 23, 59),  # November
        tokyo(date(2026, 12, 1), 0, 0),  # the first moment of December
        tokyo(date(2026, 12, 12), 10, 0),  # a Saturday
        tokyo(date(2026, 12, 31), 23, 59),
        tokyo(date(2027, 1, 1), 0, 0),  # January
    ]
    for moment in reversed(moments):
        license_check(key=key, at=moment)
    license_check(key=outsiders_key, at=tokyo(date(2026, 12, 5), 10))
    return moments


def test_the_customer_downloads_one_months_record_as_csv(api, colleague_api, key, december_record):
    response = api.get("/api/v1/licenses/outside-hours/", {"month": "2026-12"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="outside-hours-OWNER-2026-12.csv"'
    rows = csv_rows(response)
    assert [row["local_time"] for row in rows] == ["2026-12-01 00:00:00", "2026-12-12 10:00:00", "2026-12-31 23:59:00"]
    assert rows[0] == {
        "at": "2026-12-01T00:00:00+09:00", "local_time": "2026-12-01 00:00:00", "time_zone": "Asia/Tokyo",
        "key": key, "sku": "SRA-1Y", "mode": "block", "allowed": "false",
    }
    assert colleague_api.get("/api/v1/licenses/outside-hours/", {"month": "2026-12"}).content == response.content


def test_an_outsider_downloads_only_its_own_record(outsider_api, key, december_record):
    rows = csv_rows(outsider_api.get("/api/v1/licenses/outside-hours/", {"month": "2026-12"}))

    assert [(row["mode"], row["allowed"]) for row in rows] == [("warn", "true")]
    assert key not in {row["key"] for row in rows}


def test_a_month_without_validations_is_a_csv_with_the_header_only(api, december_record):
    response = api.get("/api/v1/licenses/outside-hours/", {"month": "2026-06"}, HTTP_ACCEPT="text/csv")

    assert response.status_code == 200
    assert response.content.decode().strip() == "at,local_time,time_zone,key,sku,mode,allowed"


@pytest.mark.parametrize("query", [{}, {"month": "2026-13"}, {"month": "2026-1"}, {"month": "December"}, {"month": "1999-12"}])
def test_a_bad_month_is_a_400_naming_the_parameter(api, query):
    response = api.get("/api/v1/licenses/outside-hours/", query)

    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == ["month"]


def test_the_record_needs_a_token(client):
    response = client.get("/api/v1/licenses/outside-hours/", {"month": "2026-12"})

    assert response.status_code == 401 and response["Content-Type"] == "application/problem+json"


def test_the_schema_documents_the_record_download(api):
    schema = api.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/licenses/outside-hours/"]["get"]

    month = next(parameter for parameter in operation["parameters"] if parameter["name"] == "month")
    # The months the API accepts (2000-01 onwards), so that a month the schema admits is never a 400.
    assert month["required"] is True and month["schema"]["pattern"] == r"^(2[0-9]{3}|[3-9][0-9]{3})-(0[1-9]|1[0-2])$"
    assert "text/csv" in operation["responses"]["200"]["content"]
    assert {"400", "401", "429"} <= set(operation["responses"])


def test_staff_see_a_count_per_customer_in_the_admin(client, customer, other_customer, catalog, key):
    WorkHoursPolicyFactory(customer=customer)
    now = timezone.now()
    for days_ago in (1, 2, 40):  # the last one is older than the 30 days counted
        OutsideHoursValidation.objects.create(customer=customer, license_key=LicenseKey.objects.get(key=key),
                                              at=now - timedelta(days=days_ago), time_zone="Asia/Tokyo", mode="warn", allowed=True)
    client.force_login(User.objects.create_superuser("boss", "boss@example.jp", "pw-not-used"))

    page = client.get("/admin/licensing/customer/")

    assert page.status_code == 200
    rows = {row.code: row.outside_hours_recently for row in page.context["cl"].result_list}
    assert rows == {customer.code: 2, other_customer.code: 0}


def test_the_record_is_pruned_after_the_retention(customer, key, settings):
    settings.WORK_HOURS_RECORD_RETENTION_DAYS = 30
    WorkHoursPolicyFactory(customer=customer, working_days=[1, 2, 3, 4, 5, 6, 7], public_holidays="")
    today = timezone.localtime()
    for days_ago in (45, 31, 20):
        license_check(key=key, at=today.replace(hour=12) - timedelta(days=days_ago))  # inside: counted
        license_check(key=key, at=today.replace(hour=3) - timedelta(days=days_ago))  # outside: a row

    assert prune_work_hours_record() == 4  # the beat task: two rows and two day counters
    assert OutsideHoursValidation.objects.count() == 1
    assert ValidationDayCount.objects.count() == 1
    assert work_hours_record_prune() == 0  # nothing left to prune: safe to repeat


def test_validating_records_in_one_statement_more(customer, key, django_assert_num_queries):
    WorkHoursPolicyFactory(customer=customer)

    with django_assert_num_queries(2):  # the key with everything, the counter's upsert
        license_check(key=key, at=tokyo(date(2026, 12, 7), 10))
    with django_assert_num_queries(2):  # the key with everything, the row
        license_check(key=key, at=tokyo(date(2026, 12, 7), 20))

