"""A 201 means committed: publishing to the broker can fail without failing the order."""

import time

import pytest

from orders.models import Order
from tests.conftest import order_body
from tests.workers import publishing_to


@pytest.fixture
def unreachable_broker():
    """Point the Celery app at a port where nothing listens, then restore it."""
    with publishing_to("redis://127.0.0.1:9/0"):
        yield


@pytest.mark.django_db(transaction=True)
def test_order_is_accepted_quickly_when_the_broker_is_down(api, unreachable_broker, caplog):
    started = time.monotonic()
    response = api.post("/api/v1/orders/", data=order_body(), format="json")
    elapsed = time.monotonic() - started

    assert response.status_code == 201
    order = Order.objects.get(number=response.json()["number"])
    assert order.status == Order.Status.RECEIVED  # waiting for the sweeper
    assert "could not publish order" in caplog.text
    assert elapsed < 1.0, f"publishing held the response for {elapsed:.2f}s"
