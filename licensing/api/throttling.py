"""Rate limits of key-only validation (a device holds a license key, no token): per address and per key.

Two DRF throttle classes on POST /licenses/validate/, beside the token's
(orderdesk.api.throttling.CustomerTokenThrottle, which counts requests that
carry a token and leaves these alone). Each counts a window in the cache with
the same function as the token's limit (orderdesk.cache.count_in_window): a
window starts with its first request and lasts the period of
LICENSE_VALIDATE_*_RATE_LIMIT; beyond the limit the answer is 429 with
Retry-After until the window ends. DRF asks every throttle of the view, in
order, before the view reads anything: the address is counted for every
key-only request, whatever its body; the key whenever the body names one. As
for tokens, an unreachable cache lets the request through (logged).
"""

import hashlib
import logging
import math
import time

from django.conf import settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from licensing.selectors import normalize_license_key
from orderdesk.cache import count_in_window
from orderdesk.signin import client_address

logger = logging.getLogger(__name__)


class _KeyOnlyThrottle(BaseThrottle):
    """A window counter per subject (an address, a key) of requests without a token."""

    scope: str
    rate_setting: str  # the name of the setting that holds the rate, e.g. "300/min"

    def __init__(self):
        self.seconds_left: float | None = None

    def subject(self, request) -> str | None:
        """What this throttle counts the request against; None: nothing to count."""
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        if request.auth is not None:
            return True  # a purchasing token: its own limit (CustomerTokenThrottle)
        subject = self.subject(request)
        if subject is None:
            return True
        limit, period = SimpleRateThrottle.parse_rate(None, getattr(settings, self.rate_setting))
        try:
            count, self.seconds_left = count_in_window(f"throttle:{self.scope}:{subject}", period=period, now=time.time())
        except Exception:  # noqa: BLE001 — any cache failure: let the validation through
            logger.warning("key-only validation not counted: the cache is unreachable", exc_info=True)
            return True
        return count <= limit

    def wait(self) -> float | None:
        return None if self.seconds_left is None else math.ceil(self.seconds_left)


class KeyOnlyAddressThrottle(_KeyOnlyThrottle):
    """Per client address, read as sign-in lockouts read it (TRUSTED_PROXY_COUNT): a client cannot choose it."""

    scope = "validate-address"
    rate_setting = "LICENSE_VALIDATE_ADDRESS_RATE_LIMIT"

    def subject(self, request) -> str:
        return client_address(request)


class KeyOnlyKeyThrottle(_KeyOnlyThrottle):
    """Per license key, as the body names it (stored as a hash: the cache never holds keys).

    A body that is not JSON raises DRF's ParseError here, which answers 400
    naming it, as the view would; a body without a usable key is not counted
    here, and the view's serializer names what is wrong with it.
    """

    scope = "validate-key"
    rate_setting = "LICENSE_VALIDATE_KEY_RATE_LIMIT"

    def subject(self, request) -> str | None:
        data = request.data
        key = data.get("key") if isinstance(data, dict) else None
        if not isinstance(key, str) or not key.strip():
            return None
        return hashlib.sha256(normalize_license_key(key).encode()).hexdigest()
