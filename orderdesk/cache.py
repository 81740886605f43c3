"""Django's Redis cache, reusing one redis.Redis client per connection pool.

Django's RedisCacheClient builds a new redis.Redis for every cache call, and
redis-py's constructor (which fills its table of response callbacks) costs
more CPU than the GET it wraps. The throttle counts every API request in the
cache, so this is on the hot path. A redis.Redis is safe to share: it takes
a connection from its pool for each command.

count_in_window() is the counter behind the API's rate limit
(orderdesk.api.throttling), count_in_windows() the key-only validation's two
(licensing.api.throttling), on a connection of each thread's own
(_CounterConnection); add_flag() the key that says a gather message is
pending (orders.services.queueing).
"""

import hashlib
import os
import threading
from collections.abc import Sequence

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError, NoScriptError, ResponseError


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client


class OrderdeskRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient
        self._counter_local = threading.local()

    # For each counter: start its window if there is none, add one, read the time left. One atomic
    # command however many counters a request is counted against (a device's address and its key).
    _COUNT_IN_WINDOWS = """
        local counted = {}
        for i, key in ipairs(KEYS) do
            redis.call('SET', key, 0, 'EX', ARGV[i], 'NX')
            counted[2 * i - 1] = redis.call('INCR', key)
            counted[2 * i] = redis.call('PTTL', key)
        end
        return counted
    """

    def add_flag(self, key: str, *, timeout: int) -> bool:
        """add(key, 1, timeout) as one SET NX, without pickling a value nobody reads."""
        key = self.make_key(key)
        return bool(self._cache.get_client(key, write=True).set(key, b"1", nx=True, ex=timeout))

    def count_in_windows(self, windows: Sequence[tuple[str, int]]) -> list[tuple[int, float]]:
        keys = [self.make_key(key) for key, _period in windows]  # ours: short ASCII, no memcached checks needed
        counted = self._counter_connection().evalsha(self._COUNT_IN_WINDOWS, keys, [period for _key, period in windows])
        return [(counted[i], max(counted[i + 1], 0) / 1000) for i in range(0, len(counted), 2)]

    def _counter_connection(self) -> "_CounterConnection":
        """This thread's own connection for the counters (see _CounterConnection)."""
        counter = getattr(self._counter_local, "connection", None)
        if counter is None or counter.pid != os.getpid():  # a forked worker opens its own
            pool = self._cache.get_client(write=True).connection_pool
            counter = self._counter_local.connection = _CounterConnection(pool.connection_class(**pool.connection_kwargs))
        return counter


class _CounterConnection:
    """One Redis connection per thread for the rate limits' counter: EVALSHA on a bare connection.

    Every key-only validation and every API request is counted, and redis-py's
    pooled command path (taking a connection from the pool, polling the socket
    to check it is idle, the retry wrapper, connection metrics, giving it back)
    cost more CPU than sending the command and reading its answer: taking and
    giving back the connection alone were 30 % of the call (bench/README.md,
    "Validation"). A thread keeps its connection, so none of that is needed:
    the command is sent and its answer read. A connection that broke (Redis restarted) is
    reopened once; the script is loaded again if the server lost it. Other
    errors (a timeout: socket_timeout of the cache's OPTIONS, as for the pool's
    connections) reach the caller, whose rate limit then lets the request through.
    """

    def __init__(self, connection):
        self.connection = connection
        self.pid = os.getpid()
        self.sha = {}

    def evalsha(self, source: str, keys: Sequence[str], args: Sequence) -> list:
        sha = self.sha.get(source) or self.sha.setdefault(source, hashlib.sha1(source.encode()).hexdigest())
        command = ("EVALSHA", sha, len(keys), *keys, *args)
        try:
            return self._call(command)
        except ConnectionError:  # a connection that broke since its last use (Redis restarted): once more, anew
            try:
                return self._call(command)
            except NoScriptError:
                pass
        except NoScriptError:  # a new or restarted server
            pass
        self._call(("SCRIPT", "LOAD", source))
        return self._call(command)

    def _call(self, command: tuple):
        try:
            self.connection.send_command(*command)  # connects first when it is not connected
            return self.connection.read_response()  # raises the server's error replies (NoScriptError …)
        except ResponseError:
            raise  # an answer was read whole: the connection is fine
        except BaseException:
            self.connection.disconnect()  # a timeout or a broken socket may leave half an answer behind
            raise


def count_in_window(key: str, *, period: int, now: float, cache=None) -> tuple[int, float]:
    """Add one to the counter `key`, whose window of `period` seconds starts with its first count.

    Returns (the count in the current window, seconds until it ends). Atomic
    on Redis. With the other caches (locmem in tests, the file cache of the
    embedded mode) it reads and writes the entry, so two processes racing may
    lose a count: good enough for a single web process.
    """
    return count_in_windows([(key, period)], now=now, cache=cache)[0]


def count_in_windows(windows: Sequence[tuple[str, int]], *, now: float, cache=None) -> list[tuple[int, float]]:
    """count_in_window() for several (key, period) counters at once: on Redis, in one round trip."""
    cache = cache or caches["default"]  # the backend itself: django.core.cache.cache is a proxy
    if isinstance(cache, OrderdeskRedisCache):
        return cache.count_in_windows(windows)
    counted = []
    for key, period in windows:
        window_end, count = cache.get(key) or (now + period, 0)
        if window_end <= now:
            window_end, count = now + period, 0
        count += 1
        cache.set(key, (window_end, count), timeout=window_end - now)
        counted.append((count, window_end - now))
    return counted


def add_flag(key: str, *, timeout: int, cache) -> bool:
    """Set `key` for `timeout` seconds unless it is set; True when this call set it.

    One SET NX on Redis (the gather message's de-duplication key is set by
    every new order); cache.add() elsewhere.
    """
    if isinstance(cache, OrderdeskRedisCache):
        return cache.add_flag(key, timeout=timeout)
    return cache.add(key, 1, timeout=timeout)
