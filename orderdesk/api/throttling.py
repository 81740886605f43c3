"""Rate limits per API token: a window per token, counted with one cache round trip.

A token's window starts with its first request and lasts the period of
API_RATE_LIMIT (6000/min: 60 s); within it the token may make that many
requests, and the next ones get 429 with `Retry-After` until the window ends.

Why not DRF's SimpleRateThrottle: it keeps the timestamp of every request in
the period in one cache entry and reads and rewrites the whole list on each
request (at 6000/min, a pickled list of up to 6000 floats both ways), and two
requests that race between its read and its write lose a count. Here each
request adds one to a counter: on Redis one atomic transaction
(orderdesk.cache.OrderdeskRedisCache.count_in_window).

When the cache cannot be reached the request is let through (and logged): the
limit protects the service, but refusing every customer's orders while Redis
restarts would do more harm than it prevents.
"""

import logging
import math
import time
from dataclasses import dataclass

from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from orderdesk.cache import count_in_window

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Allowance:
    allowed: bool
    seconds_left: float  # until the token's window ends


class CustomerTokenThrottle(BaseThrottle):
    """Per API token: each of a customer's systems gets its own allowance."""

    scope = "customer_token"
    THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES

    def __init__(self):
        self.allowance: Allowance | None = None

    def allow_request(self, request, view) -> bool:
        token = getattr(request, "auth", None)
        if token is None:
            return True  # unauthenticated requests are refused before they cost anything
        self.allowance = self.count(token.key_hash)
        return self.allowance.allowed

    def wait(self) -> float | None:
        return None if self.allowance is None else math.ceil(self.allowance.seconds_left)

    def count(self, token_hash: str) -> Allowance:
        """Count one request of the token with this hash against its window."""
        limit, period = SimpleRateThrottle.parse_rate(self, self.THROTTLE_RATES[self.scope])
        try:
            count, seconds_left = count_in_window(f"throttle:{self.scope}:{token_hash}", period=period, now=time.time())
        except Exception:  # noqa: BLE001 — any cache failure: let the request through
            logger.warning("rate limit not counted: the cache is unreachable", exc_info=True)
            return Allowance(allowed=True, seconds_left=0)
        return Allowance(allowed=count <= limit, seconds_left=seconds_left)
