from types import SimpleNamespace

from rest_framework.throttling import SimpleRateThrottle


class CustomerTokenThrottle(SimpleRateThrottle):
    """Per API token: each of a customer's systems gets its own allowance."""

    scope = "customer_token"

    def get_cache_key(self, request, view):
        token = getattr(request, "auth", None)
        if token is None:
            return None  # unauthenticated requests are refused before they cost anything
        return self.cache_format % {"scope": self.scope, "ident": token.pk}


def token_may_proceed(token_id: int) -> bool:
    """CustomerTokenThrottle's check for one token, counting the request when it is allowed.

    For the order intake (orders.api.intake), which answers without DRF: the
    same cache entry as the throttle, so both paths draw on one allowance.
    """
    request = SimpleNamespace(auth=SimpleNamespace(pk=token_id))  # all that get_cache_key reads of a request
    return CustomerTokenThrottle().allow_request(request, view=None)
