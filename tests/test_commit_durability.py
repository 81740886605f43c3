"""Which commits wait for the disk: the order's always, the claim's and the number's need not."""

import pytest
from django.db import connection, transaction

from orderdesk.db import atomic_without_flush_wait


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_an_outermost_transaction_commits_without_waiting_and_the_next_one_waits_again(requires_postgres):
    with atomic_without_flush_wait():
        assert _synchronous_commit() == "off"
    with transaction.atomic():
        assert _synchronous_commit() == "on"


@pytest.mark.django_db(transaction=True)
def test_inside_another_transaction_the_enclosing_commit_keeps_waiting(requires_postgres):
    with transaction.atomic():
        with atomic_without_flush_wait():
            assert _synchronous_commit() == "on"
        assert _synchronous_commit() == "on"
