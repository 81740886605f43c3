"""Rate limits of key-only validation (a device holds a license key, no token): per client address and per key.

Asked by the device's view (licensing.api.validate) before anything else
touches the database; requests with a token have the token's limit
(orderdesk.api.throttling.CustomerTokenThrottle). A key-only request is counted
against two windows, its client address's (LICENSE_VALIDATE_ADDRESS_RATE_LIMIT)
and, when its body names a key, that key's (LICENSE_VALIDATE_KEY_RATE_LIMIT),
with the counter behind the token's limit (orderdesk.cache.count_in_windows:
both in one cache round trip, which was a tenth of a validation's cost). A
window starts with its first request and lasts the rate's period; beyond
either limit the answer is 429 with Retry-After until that window ends. As
for tokens, an unreachable cache lets the request through (logged).

A flood of requests from one address is refused before any reaches the
database, whatever their keys. A body that is not JSON is answered 400
before (uncounted: it costs less than counting it would).
"""

import functools
import hashlib
import logging
import math
import time

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from licensing.selectors import normalize_license_key
from orderdesk.cache import count_in_windows
from orderdesk.signin import client_address

logger = logging.getLogger(__name__)


def key_only_wait(*, address: str, key) -> float | None:
    """Count one key-only validation from `address` for `key`; seconds until the client may ask again, or None.

    Per client address (read as sign-in lockouts read it, TRUSTED_PROXY_COUNT:
    a client cannot choose it) and, when `key` is a non-blank string, per
    license key, stored as a hash (the cache never holds keys). Both windows
    in one cache round trip.
    """
    windows = [(f"throttle:validate-address:{address}", settings.LICENSE_VALIDATE_ADDRESS_RATE_LIMIT)]
    if isinstance(key, str) and key.strip():
        digest = hashlib.sha256(normalize_license_key(key).encode()).hexdigest()
        windows.append((f"throttle:validate-key:{digest}", settings.LICENSE_VALIDATE_KEY_RATE_LIMIT))
    limits = [_parsed_rate(rate) for _cache_key, rate in windows]
    try:
        counted = count_in_windows(
            [(cache_key, period) for (cache_key, _rate), (_limit, period) in zip(windows, limits)], now=time.time()
        )
    except Exception:  # noqa: BLE001 — any cache failure: let the validation through
        logger.warning("key-only validation not counted: the cache is unreachable", exc_info=True)
        return None
    refused = [seconds_left for (count, seconds_left), (limit, _period) in zip(counted, limits) if count > limit]
    return math.ceil(max(refused)) if refused else None


@functools.cache
def _parsed_rate(rate: str) -> tuple[int, int]:
    return SimpleRateThrottle.parse_rate(None, rate)
