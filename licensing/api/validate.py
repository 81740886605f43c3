"""POST /api/v1/licenses/validate/ from a device (the key alone, no token): a plain Django view.

Devices validate at every start of the application, so this is the API's
most frequent call, and its web CPU is what limits it. DRF's request cycle
(wrapping the request, instantiating parsers, authenticators, throttles and
negotiators, deep-copying the input serializer's fields, rendering through
negotiation) cost more than half of a validation's CPU (bench/README.md,
"Validation"), for nothing this request needs. So, as for the order intake
(orders.api.submit), this view makes the same decisions with the same pieces,
once each, in DRF's order:

    the response format  orderdesk.api.negotiation                         406
    the body             orderdesk.api.parsers.LimitedJSONParser           400, 413, 415
    the rate limits      licensing.api.throttling.key_only_wait            429 with Retry-After
    the input            LicenseValidateInputSerializer's own fields       400 naming the field
    the decision         licensing.validation.license_check                200 {valid, code, mode}

Requests with an Authorization header (a purchasing system's token, or a
wrong one: 401, never key-only) go to the DRF action LicenseViewSet.validate,
which also describes this operation in the OpenAPI schema
(orderdesk/api/urls.py sends each request to one of the two). Errors are
answered by the API's exception handler (orderdesk.api.problems), as DRF's are.
"""

import json

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from licensing.api.serializers import LicenseValidateInputSerializer
from licensing.api.throttling import key_only_wait
from licensing.validation import device_moment, license_check
from orderdesk.api.negotiation import JsonFirstContentNegotiation, accepts_json_plainly
from orderdesk.api.parsers import LimitedJSONParser
from orderdesk.api.problems import problem_exception_handler
from orderdesk.signin import client_address

# Key-only answers say which moment they judged (the device's `at`, or the server's clock).
CHECKED_AT_HEADER = "Orderdesk-Checked-At"

_RENDERER = JSONRenderer()
# The input serializer's fields, bound once: a serializer per request deep-copies them, a fifth of the view's CPU.
_FIELDS = LicenseValidateInputSerializer().fields
_PARSER = LimitedJSONParser()


@csrf_exempt
def device_validate_view(request) -> HttpResponse:
    try:
        if not accepts_json_plainly(request.META):
            JsonFirstContentNegotiation().select_renderer(Request(request), [_RENDERER])
        data = _json_body(request)
        wait = key_only_wait(address=client_address(request), key=data.get("key") if isinstance(data, dict) else None)
        if wait is not None:
            raise exceptions.Throttled(wait=wait)
        payload = _validated(data)
        moment = device_moment(payload.get("at"))
        decision = license_check(key=payload["key"], at=moment.at)
    except Exception as error:  # noqa: BLE001 — every error is answered as problem+json, as DRF's views answer them
        return _problem(error, request)
    body = json.dumps({"valid": decision.valid, "code": decision.code, "mode": decision.mode}, separators=(",", ":"))
    response = HttpResponse(body, content_type="application/json")
    response[CHECKED_AT_HEADER] = moment.at.isoformat()
    response["Vary"] = "Accept"
    return response


def _json_body(request):
    if request.content_type != "application/json":
        raise exceptions.UnsupportedMediaType(request.content_type or "(none)")
    return _PARSER.parse(request, parser_context={"request": request})


def _validated(data) -> dict:
    """The input as LicenseValidateInputSerializer validates it (its fields, its messages), without a new serializer."""
    if not isinstance(data, dict):
        raise serializers.ValidationError(
            {"non_field_errors": [serializers.Serializer.default_error_messages["invalid"].format(datatype=type(data).__name__)]}
        )
    payload, errors = {}, {}
    for name, field in _FIELDS.items():
        value = data.get(name, serializers.empty)
        try:
            validated = field.run_validation(value)
        except serializers.SkipField:
            continue
        except serializers.ValidationError as error:
            errors[name] = error.detail
            continue
        payload[name] = validated
    if errors:
        raise serializers.ValidationError(errors)
    return payload


def _problem(error: Exception, request) -> HttpResponse:
    response = problem_exception_handler(error, {"request": request, "view": None})
    response.accepted_renderer = _RENDERER
    response.accepted_media_type = _RENDERER.media_type
    response.renderer_context = {}
    return response.render()
