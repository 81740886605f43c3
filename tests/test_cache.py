"""Redis clients: the cache that holds the throttling counters, and the Celery broker."""

import os
import uuid

from orderdesk.cache import OrderdeskRedisCache
from tests.conftest import skip_or_fail


def test_redis_cache_stores_values_and_reuses_one_client():
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        skip_or_fail("needs Redis: set CELERY_BROKER_URL=redis://…")
    cache = OrderdeskRedisCache(url, {"KEY_PREFIX": f"test-{uuid.uuid4().hex}"})
    try:
        cache.set("history", [1.5, 2.5], 30)

        assert cache.get("history") == [1.5, 2.5]
        assert cache._cache.get_client() is cache._cache.get_client()
    finally:
        cache.delete("history")


def test_the_broker_publishes_through_one_redis_client_per_channel():
    from kombu import Connection

    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        skip_or_fail("needs Redis: set CELERY_BROKER_URL=redis://…")
    queue = f"test-{uuid.uuid4().hex}"
    with Connection(url, transport="orderdesk.broker:Transport") as connection:
        channel = connection.default_channel
        simple = connection.SimpleQueue(queue)
        try:
            simple.put({"order": 1})
            simple.put({"order": 2})

            assert [simple.get(timeout=2).payload for _ in range(2)] == [{"order": 1}, {"order": 2}]
            with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
                assert first is second
        finally:
            simple.queue.delete()
            simple.close()
