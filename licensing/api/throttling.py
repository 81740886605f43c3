"""Rate limits of key-only validation (a device holds a license key, no token): per client address and per key.

A DRF throttle class on POST /licenses/validate/, beside the token's
(orderdesk.api.throttling.CustomerTokenThrottle, which counts the requests
that carry a token and leaves these alone). A key-only request is counted
against two windows, its client address's (LICENSE_VALIDATE_ADDRESS_RATE_LIMIT)
and, when its body names a key, that key's (LICENSE_VALIDATE_KEY_RATE_LIMIT),
with the counter behind the token's limit (orderdesk.cache.count_in_windows:
both in one cache round trip, which was a tenth of a validation's cost). A
window starts with its first request and lasts the rate's period; beyond
either limit the answer is 429 with Retry-After until that window ends. As
for tokens, an unreachable cache lets the request through (logged).

DRF asks the throttle before the view runs, so a flood of requests from one
address is refused before any reaches the database, whatever their keys. A
body that is not JSON is answered 400 here (DRF's ParseError), uncounted: it
costs less than counting it would.
"""

import hashlib
import logging
import math
import time

from django.conf import settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from licensing.selectors import normalize_license_key
from orderdesk.cache import count_in_windows
from orderdesk.signin import client_address

logger = logging.getLogger(__name__)


class KeyOnlyThrottle(BaseThrottle):
    """Per client address, read as sign-in lockouts read it (TRUSTED_PROXY_COUNT: a client cannot choose it),
    and per license key, stored as a hash (the cache never holds keys)."""

    def __init__(self):
        self.seconds_left: float | None = None

    def allow_request(self, request, view) -> bool:
        if request.auth is not None:
            return True  # a purchasing token: its own limit (CustomerTokenThrottle)
        windows = [(f"throttle:validate-address:{client_address(request)}", settings.LICENSE_VALIDATE_ADDRESS_RATE_LIMIT)]
        key = _key_named_in(request)
        if key is not None:
            digest = hashlib.sha256(normalize_license_key(key).encode()).hexdigest()
            windows.append((f"throttle:validate-key:{digest}", settings.LICENSE_VALIDATE_KEY_RATE_LIMIT))
        limits = [SimpleRateThrottle.parse_rate(None, rate) for _cache_key, rate in windows]
        try:
            counted = count_in_windows(
                [(cache_key, period) for (cache_key, _rate), (_limit, period) in zip(windows, limits)], now=time.time()
            )
        except Exception:  # noqa: BLE001 — any cache failure: let the validation through
            logger.warning("key-only validation not counted: the cache is unreachable", exc_info=True)
            return True
        refused = [seconds_left for (count, seconds_left), (limit, _period) in zip(counted, limits) if count > limit]
        if refused:
            self.seconds_left = max(refused)
        return not refused

    def wait(self) -> float | None:
        return None if self.seconds_left is None else math.ceil(self.seconds_left)


def _key_named_in(request) -> str | None:
    """The body's `key` when it is a non-blank string; else None (the view's serializer names what is wrong)."""
    data = request.data  # DRF's ParseError for a body that is not JSON: 400, naming it
    key = data.get("key") if isinstance(data, dict) else None
    return key if isinstance(key, str) and key.strip() else None
