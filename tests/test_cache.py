"""The Redis cache that holds the throttling counters."""

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
