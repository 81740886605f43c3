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


@pytest.mark.django_db(transaction=True)
def test_order_is_accepted_quickly_when_the_cache_is_down(api, settings, caplog):
    # The cache holds the rate-limit counters and the gather-pending key; without it
    # the limit lets requests through and each new order publishes its own message.
    settings.CACHES = {
        "default": {
            "BACKEND": "orderdesk.cache.OrderdeskRedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"socket_connect_timeout": 0.3, "socket_timeout": 0.5},
        }
    }
    started = time.monotonic()
    response = api.post("/api/v1/orders/", data=order_body(), format="json", HTTP_IDEMPOTENCY_KEY="cache-down")
    elapsed = time.monotonic() - started

    assert response.status_code == 201
    assert Order.objects.filter(number=response.json()["number"]).exists()
    assert "rate limit not counted" in caplog.text
    assert elapsed < 1.0, f"the unreachable cache held the response for {elapsed:.2f}s"
