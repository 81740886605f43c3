"""Which commits wait for the disk: the order's always, the key claim's and the number's need not."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from orderdesk.numbering import next_number


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
