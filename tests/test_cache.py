"""Redis clients: the cache that holds the throttling counters, and the Celery broker."""

import os
import time
import uuid

from django.core.cache.backends.locmem import LocMemCache

from orderdesk.cache import OrderdeskRedisCache, count_in_window, count_in_windows
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


def _counts_in_one_window_then_starts_again(cache):
    key = f"test-window-{uuid.uuid4().hex}"
    counted = [count_in_window(key, period=1, now=time.time(), cache=cache) for _ in range(3)]

    assert [count for count, _left in counted] == [1, 2, 3]
    assert all(0 < left <= 1 for _count, left in counted)
    time.sleep(1.1)  # the window ends with its period, counted from its first request
    assert count_in_window(key, period=1, now=time.time(), cache=cache)[0] == 1


def test_the_rate_limit_counter_on_redis_counts_within_a_window_and_starts_again_after_it():
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        skip_or_fail("needs Redis: set CELERY_BROKER_URL=redis://…")
    _counts_in_one_window_then_starts_again(OrderdeskRedisCache(url, {"KEY_PREFIX": f"test-{uuid.uuid4().hex}"}))


def test_the_rate_limit_counter_in_other_caches_counts_the_same_way():
    _counts_in_one_window_then_starts_again(LocMemCache(f"test-{uuid.uuid4().hex}", {}))


def _counts_several_windows_each_on_its_own(cache):
    short, long = f"test-short-{uuid.uuid4().hex}", f"test-long-{uuid.uuid4().hex}"
    count_in_window(long, period=60, now=time.time(), cache=cache)

    counted = count_in_windows([(short, 1), (long, 60)], now=time.time(), cache=cache)

    assert [count for count, _left in counted] == [1, 2]
    assert 0 < counted[0][1] <= 1 and 1 < counted[1][1] <= 60
    time.sleep(1.1)  # the short window ends; the long one goes on
    assert [count for count, _left in count_in_windows([(short, 1), (long, 60)], now=time.time(), cache=cache)] == [1, 3]


def test_several_counters_on_redis_are_counted_in_one_call_each_in_its_window():
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        skip_or_fail("needs Redis: set CELERY_BROKER_URL=redis://…")
    _counts_several_windows_each_on_its_own(OrderdeskRedisCache(url, {"KEY_PREFIX": f"test-{uuid.uuid4().hex}"}))


def test_several_counters_in_other_caches_are_counted_the_same_way():
    _counts_several_windows_each_on_its_own(LocMemCache(f"test-{uuid.uuid4().hex}", {}))


def _redis_cache() -> tuple[OrderdeskRedisCache, str]:
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        skip_or_fail("needs Redis: set CELERY_BROKER_URL=redis://…")
    return OrderdeskRedisCache(url, {"KEY_PREFIX": f"test-{uuid.uuid4().hex}"}), url


def test_the_counter_survives_a_broken_connection_and_a_server_without_its_script():
    import redis

    cache, url = _redis_cache()
    key = f"test-broken-{uuid.uuid4().hex}"
    assert count_in_windows([(key, 60)], now=time.time(), cache=cache)[0][0] == 1
    counter = cache._counter_connection()
    # Its connection closed by the server (as a Redis restart does): reopened, the count goes on.
    own_id = counter._call(("CLIENT", "ID"))
    redis.Redis.from_url(url).client_kill_filter(_id=own_id)
    assert count_in_windows([(key, 60)], now=time.time(), cache=cache)[0][0] == 2
    assert cache._counter_connection() is counter  # the same thread keeps its connection
    # A script the server has never seen (as after a restart): loaded, then run.
    source = f"return '{uuid.uuid4().hex}'"
    assert counter.evalsha(source, [], []) == source.split("'")[1].encode()
    cache.delete(key)


def test_each_thread_counts_on_its_own_connection_and_no_count_is_lost():
    import threading

    cache, _url = _redis_cache()
    key = f"test-threads-{uuid.uuid4().hex}"
    connections = []

    def count():
        connections.append(cache._counter_connection())
        for _ in range(50):
            count_in_windows([(key, 60)], now=time.time(), cache=cache)

    threads = [threading.Thread(target=count) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({id(connection) for connection in connections}) == 4
    assert count_in_windows([(key, 60)], now=time.time(), cache=cache)[0][0] == 201
    cache.delete(key)
