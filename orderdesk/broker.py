"""kombu's Redis transport, reusing one redis.Redis per channel instead of building one per message.

kombu's Redis channel builds a new redis.Redis for every message it publishes
(Channel.conn_or_acquire), and redis-py's constructor (which fills its table
of response callbacks) costs about a third of the CPU of a whole publish.
Every submitted order publishes a message, so that was on the order intake's
path. A redis.Redis is safe to share: it takes a connection from its pool for
each command. orderdesk.cache does the same for Django's cache.

Used when CELERY_BROKER_URL is redis://… (settings: CELERY_BROKER_TRANSPORT).
"""

from contextlib import contextmanager
from functools import cached_property

from kombu.transport import redis


class Channel(redis.Channel):
    @cached_property
    def _shared_client(self):
        return self._create_client()

    @contextmanager
    def conn_or_acquire(self, client=None):
        yield client or self._shared_client


class Transport(redis.Transport):
    Channel = Channel
