"""POST /api/v1/licenses/validate/ from a device (the key alone, no token): answered without DRF's per-request machinery.

Every employee's PC validates its key when the application starts, so at
9:00 this is the API's busiest call, and DRF's request wrapping, content
negotiation and serializers cost several times what the validation itself
does. This path answers the ordinary device request with the same functions
as LicenseViewSet.validate — the rate limits (licensing.api.throttling), the
device's clock (licensing.validation.device_moment), the decision and its
record (licensing.validation.license_check) — and hands everything else,
untouched, to the DRF action, which answers it as it always has: a request
with an Authorization header (a purchasing system), a body these checks do
not take as it is (the serializer then names the wrong fields), another media
type. The client address is counted here before anything else; a request
handed over after that is not counted again (COUNTED_ATTRIBUTE).
"""

import json
from dataclasses import asdict

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from licensing.api.throttling import address_allowance, key_allowance
from licensing.selectors import normalize_license_key
from licensing.validation import device_moment, license_check
from orderdesk.api.problems import PROBLEM_CONTENT_TYPE, problem_body

CHECKED_AT_HEADER = "Orderdesk-Checked-At"
# Set on a request whose client address was counted here before it was handed over.
COUNTED_ATTRIBUTE = "validation_address_counted"
KEY_MAX_LENGTH = 64  # LicenseValidateInputSerializer's

_ACCEPTED_MEDIA_TYPES = {None, "*/*", "application/json"}


def validate_from_device(request) -> HttpResponse | None:
    """The answer to an ordinary key-only validation, or None to hand the request to DRF."""
    if "HTTP_AUTHORIZATION" in request.META or request.META.get("HTTP_ACCEPT") not in _ACCEPTED_MEDIA_TYPES:
        return None
    if request.content_type != "application/json":
        return None
    allowance = address_allowance(request)
    setattr(request, COUNTED_ATTRIBUTE, True)
    if not allowance.allowed:
        return rate_limited(allowance.seconds_left)
    fields = _plain_body(request)
    if fields is None:
        return None
    key, at = fields
    allowance = key_allowance(key)
    if not allowance.allowed:
        return rate_limited(allowance.seconds_left)
    moment = device_moment(at)
    decision = license_check(key=key, at=moment.at)
    body = json.dumps(asdict(decision), separators=(",", ":")).encode()
    return HttpResponse(body, content_type="application/json", headers={CHECKED_AT_HEADER: moment.at.isoformat()})


def _plain_body(request):
    """(normalised key, `at` or None) from a body LicenseValidateInputSerializer would take as it is; else None."""
    if len(request.body) > settings.API_MAX_BODY_BYTES:
        return None
    try:
        data = json.loads(request.body)
    except ValueError:
        return None
    if not isinstance(data, dict) or not set(data) <= {"key", "at"}:
        return None
    key, at = data.get("key"), data.get("at")
    if not isinstance(key, str) or not key.strip() or len(key) > KEY_MAX_LENGTH or "\x00" in key:
        return None
    if at is None:
        return normalize_license_key(key), None
    if not isinstance(at, str):
        return None
    try:
        moment = parse_datetime(at)
    except ValueError:
        return None
    if moment is None:
        return None
    # As DRF's DateTimeField: a time without an offset is in the current time zone (Japan).
    return normalize_license_key(key), moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def rate_limited(seconds_left: float) -> HttpResponse:
    """429 problem+json with Retry-After, as the API's exception handler writes it for DRF's Throttled."""
    retry_after = max(1, int(seconds_left + 0.999))
    body = problem_body(
        status_code=429, problem_type="rate-limited", title="Too many requests.",
        detail=f"Request was throttled. Expected available in {retry_after} seconds.",
    )
    return HttpResponse(
        json.dumps(body).encode(), status=429, content_type=PROBLEM_CONTENT_TYPE, headers={"Retry-After": str(retry_after)}
    )
