"""Django's Redis cache, reusing one redis.Redis client per connection pool.

Django's RedisCacheClient builds a new redis.Redis for every cache call, and
redis-py's constructor (which fills its table of response callbacks) costs
more CPU than the GET it wraps. The throttle makes two cache calls on every API
request, so this is on the hot path. A redis.Redis is safe to share: it takes
a connection from its pool for each command.
"""

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


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
