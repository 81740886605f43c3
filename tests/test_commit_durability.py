"""Which commits wait for the disk: the order's always; the key claim's, the number's and the work-hours record's need not."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import psycopg
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from licensing.models import WorkHoursPolicy
from licensing.validation import license_check
from orderdesk.numbering import next_number
from tests.factories import WorkHoursPolicyFactory, provision


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_number_drawn_on_its_own_commits_without_waiting_and_the_next_commit_waits_again(requires_postgres):
    with CaptureQueriesContext(connection) as captured:
        next_number("T")

    assert "set_config('synchronous_commit', 'off', true)" in captured.captured_queries[-1]["sql"]
    assert _synchronous_commit() == "on"  # the setting lasted for the number's own transaction only
    with transaction.atomic():
        assert _synchronous_commit() == "on"


@pytest.mark.django_db(transaction=True)
def test_inside_another_transaction_the_enclosing_commit_keeps_waiting(requires_postgres):
    with transaction.atomic():
        with CaptureQueriesContext(connection) as captured:
            next_number("T")
        assert "synchronous_commit" not in captured.captured_queries[-1]["sql"]
        assert _synchronous_commit() == "on"


@pytest.mark.django_db(transaction=True)
def test_an_orders_commit_waits_for_the_disk(requires_postgres, api):
    with CaptureQueriesContext(connection) as captured:
        response = api.post(
            "/api/v1/orders/",
            data={"po_number": "PO-1", "lines": [{"sku": "SRA-1Y", "quantity": 1}]},
            format="json",
            HTTP_IDEMPOTENCY_KEY="k",
        )

    assert response.status_code == 201
    writes = [query["sql"] for query in captured.captured_queries if "INSERT INTO \"orders_order\"" in query["sql"]]
    assert len(writes) == 1 and "synchronous_commit" not in writes[0]
    assert _synchronous_commit() == "on"


@pytest.fixture
def policy_key(customer, catalog):
    WorkHoursPolicyFactory(customer=customer, working_days=[1, 2, 3, 4, 5, 6, 7], public_holidays="",
                           start_time=time(9, 0), end_time=time(18, 0), mode=WorkHoursPolicy.Mode.WARN)
    return provision(customer, catalog["SRA-1Y"], 10, "order-line:1", term_start=date(2026, 4, 1)).license_key.key


def _tokyo(hour: int) -> datetime:
    return datetime(2026, 12, 7, hour, tzinfo=ZoneInfo("Asia/Tokyo"))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("hour", "table"), [(20, "licensing_outsidehoursvalidation"), (10, "licensing_validationdaycount")])
def test_the_work_hours_record_commits_on_its_own_before_the_answer_without_waiting_for_the_disk(
    requires_postgres, policy_key, hour, table
):
    with CaptureQueriesContext(connection) as captured:
        license_check(key=policy_key, at=_tokyo(hour))  # 20:00 outside hours (a row), 10:00 inside (the day counter)

    write = captured.captured_queries[-1]["sql"]
    assert write.startswith(f"INSERT INTO {table}") and "set_config('synchronous_commit', 'off', true)" in write
    assert _synchronous_commit() == "on"  # for that statement's own transaction only
    # Committed by then, not buffered: another connection sees it before the caller has its answer.
    settings_dict = connection.settings_dict
    with psycopg.connect(
        dbname=settings_dict["NAME"], user=settings_dict["USER"], host=settings_dict["HOST"], port=settings_dict["PORT"] or 5432,
        password=settings_dict["PASSWORD"] or None,
    ) as other:
        assert other.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 1


@pytest.mark.django_db(transaction=True)
def test_the_work_hours_record_inside_another_transaction_waits_with_it(requires_postgres, policy_key):
    with transaction.atomic():
        with CaptureQueriesContext(connection) as captured:
            license_check(key=policy_key, at=_tokyo(20))
        assert "synchronous_commit" not in captured.captured_queries[-1]["sql"]
