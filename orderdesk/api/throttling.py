from rest_framework.throttling import SimpleRateThrottle


class CustomerTokenThrottle(SimpleRateThrottle):
    """Per API token: each of a customer's systems gets its own allowance."""

    scope = "customer_token"

    def get_cache_key(self, request, view):
        token = getattr(request, "auth", None)
        if token is None:
            return None  # unauthenticated requests are refused before they cost anything
        return self.cache_format % {"scope": self.scope, "ident": token.pk}
