"""Order numbers: O-YYYY-NNNNNN, unique, also when many orders arrive at once."""

import threading
import time

import pytest
from django.db import connection

from orderdesk.numbering import next_number
from orders.models import Order
from orders.services.intake import DuplicatePoNumber
from tests.factories import submitted_order


@pytest.mark.django_db
def test_numbers_count_up_per_prefix_and_year():
    assert next_number("O", year=2026) == "O-2026-000001"
    assert next_number("O", year=2026) == "O-2026-000002"
    assert next_number("Q", year=2026) == "Q-2026-000001"
    assert next_number("O", year=2027) == "O-2027-000001"


@pytest.mark.django_db(transaction=True)
def test_concurrent_submits_get_distinct_numbers(requires_postgres, customer, catalog):
    threads_count, per_thread = 8, 10
    numbers: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(threads_count)

    def submit_many(thread_index: int):
        try:
            start.wait()
            for i in range(per_thread):
                order = submitted_order(customer, po_number=f"PO-{thread_index}-{i}", lines=[("SRA-1Y", 1)])
                numbers.append(order.number)
        except BaseException as error:  # noqa: BLE001 — reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit_many, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(numbers) == threads_count * per_thread
    assert len(set(numbers)) == len(numbers)
    assert Order.objects.count() == len(numbers)


@pytest.mark.django_db(transaction=True)
def test_concurrent_submits_of_one_po_number_make_one_order(requires_postgres, customer, catalog):
    outcomes: list[str] = []
    start = threading.Barrier(6)

    def submit():
        try:
            start.wait()
            submitted_order(customer, po_number="PO-SAME", lines=[("SRA-1Y", 1)])
            outcomes.append("created")
        except DuplicatePoNumber:
            outcomes.append("duplicate")
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["created"] + ["duplicate"] * 5
    assert Order.objects.filter(po_number="PO-SAME").count() == 1


@pytest.mark.django_db(transaction=True)
def test_control_read_then_write_numbering_hands_out_duplicates(requires_postgres):
    """Control: without the atomic increment the race is real, so the test above can fail."""
    from orderdesk.models import NumberSequence

    NumberSequence.objects.create(prefix="X", year=2026, last_value=0)
    handed_out: list[int] = []
    start = threading.Barrier(8)

    def naive_next():
        try:
            start.wait()
            for _ in range(10):
                row = NumberSequence.objects.get(prefix="X", year=2026)
                row.last_value += 1  # read, add, write back: two callers can read the same value
                time.sleep(0.002)  # the time a real request spends between reading and writing
                row.save(update_fields=["last_value"])
                handed_out.append(row.last_value)
        finally:
            connection.close()

    threads = [threading.Thread(target=naive_next) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(set(handed_out)) < len(handed_out)
