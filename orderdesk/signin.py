"""Staff sign-in protection (django-axes, configured in settings): where an attempt comes from, and the lockout page."""

import ipaddress
import math

from django.conf import settings
from django.shortcuts import render

from axes.helpers import get_cool_off


def client_address(request) -> str:
    """The address a sign-in attempt came from: locking out goes by user name and this address.

    Behind TRUSTED_PROXY_COUNT = n reverse proxies, each appends the address it
    saw to X-Forwarded-For, so the client's is the n-th from the right. What
    stands further left the client sent itself and proves nothing; so does a
    value that is not an address (then the connection's address counts).
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if len(forwarded) >= proxies:
            try:
                return str(ipaddress.ip_address(forwarded[-proxies]))
            except ValueError:
                pass
    return request.META.get("REMOTE_ADDR", "")


def locked_out(request, original_response=None, credentials=None):
    """The page a locked-out sign-in gets instead of the login form: 429, with how long to wait."""
    minutes = math.ceil(get_cool_off(request).total_seconds() / 60)
    return render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)
