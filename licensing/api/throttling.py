"""Rate limits of key-only validation (a device holds a license key, no token): per key and per address.

Each limit is a window counter in the cache, counted by the same function as
the token's limit (orderdesk.cache.count_in_window): a window starts with its
first request and lasts the period of LICENSE_VALIDATE_*_RATE_LIMIT; beyond the
limit the answer is 429 with Retry-After until the window ends. The address is
counted first, before the body is read, so a flood of garbage from one address
is limited too; the key once the body names one. As for tokens, an unreachable
cache lets the request through (logged).
"""

import hashlib
import logging
import time

from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from django.conf import settings

from orderdesk.api.throttling import Allowance
from orderdesk.cache import count_in_window

logger = logging.getLogger(__name__)


def address_allowance(request) -> Allowance:
    """Count one key-only validation from the request's client address (DRF's get_ident: REMOTE_ADDR, NUM_PROXIES)."""
    address = BaseThrottle().get_ident(request)
    return _count(f"throttle:validate-address:{address}", settings.LICENSE_VALIDATE_ADDRESS_RATE_LIMIT)


def key_allowance(normalized_key: str) -> Allowance:
    """Count one key-only validation of this key (stored as a hash: the cache never holds keys)."""
    digest = hashlib.sha256(normalized_key.encode()).hexdigest()
    return _count(f"throttle:validate-key:{digest}", settings.LICENSE_VALIDATE_KEY_RATE_LIMIT)


def _count(cache_key: str, rate: str) -> Allowance:
    limit, period = SimpleRateThrottle.parse_rate(None, rate)
    try:
        count, seconds_left = count_in_window(cache_key, period=period, now=time.time())
    except Exception:  # noqa: BLE001 — any cache failure: let the validation through
        logger.warning("key-only validation not counted: the cache is unreachable", exc_info=True)
        return Allowance(allowed=True, seconds_left=0)
    return Allowance(allowed=count <= limit, seconds_left=seconds_left)
