"""Order numbers: O-YYYY-NNNNNN, unique, also when many orders arrive at once."""

import threading

import pytest
from django.db import connection

from orderdesk.numbering import next_number
from orders.models import Order
from orders.services.submission import LineRequest, order_submit
from orders.services.transitions import Actor


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
                order = order_submit(
                    customer=customer,
                    po_number=f"PO-{thread_index}-{i}",
                    lines=[LineRequest(sku="SRA-1Y", quantity=1)],
                    actor=Actor.system("test"),
                )
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
    from orders.services.submission import DuplicatePoNumber

    outcomes: list[str] = []
    start = threading.Barrier(6)

    def submit():
        try:
            start.wait()
            order_submit(
                customer=customer, po_number="PO-SAME", lines=[LineRequest(sku="SRA-1Y", quantity=1)], actor=Actor.system("test")
            )
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
