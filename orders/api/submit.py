"""POST /api/v1/orders/: the order intake's endpoint, a plain Django view.

Submitting orders is the API's busiest call, and in a surge the web processes'
CPU is what limits it. DRF's request cycle (wrapping the request,
instantiating parsers, authenticators, throttles and negotiators, rendering
through negotiation) cost about a twentieth of a submission for nothing this
endpoint needs, so this view makes the same decisions with the same pieces,
once each, in DRF's order:

    the token            licensing.authentication.CustomerTokenAuthentication    401
    the rate limit       orderdesk.api.throttling.CustomerTokenThrottle          429
    the response format  orderdesk.api.negotiation.JsonFirstContentNegotiation   406
    the Idempotency-Key  orderdesk.api.idempotency                                400, replay, 409, 422
    the body             orderdesk.api.parsers.LimitedJSONParser                 400, 413, 415
    the order            orders.services.intake.order_submit                     201, 400, 409

Errors are answered by the API's exception handler (orderdesk.api.problems),
as for every DRF view. The OpenAPI schema describes this operation from
OrderViewSet (orders.api.schema); orderdesk/api/urls.py sends POST here and
GET to DRF.
"""

import json

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from licensing.authentication import CustomerTokenAuthentication
from orderdesk.api import idempotency
from orderdesk.api.negotiation import JsonFirstContentNegotiation, accepts_json_plainly
from orderdesk.api.parsers import LimitedJSONParser
from orderdesk.api.problems import problem_exception_handler
from orderdesk.api.throttling import CustomerTokenThrottle
from orderdesk.audit import Actor
from orders.api.problems import duplicate_po_number_problem, order_invalid_problem
from orders.api.serializers import order_body
from orders.models import Order
from orders.services.intake import DuplicatePoNumber, OrderInvalid, order_submit
from orders.services.order_writer import ReplayableResponse

_RENDERER = JSONRenderer()


@csrf_exempt
def order_submit_view(request) -> HttpResponse:
    claim = None
    try:
        token = _authenticated(request)
        _throttled(token.key_hash)
        _acceptable(request)
        key = request.headers.get(idempotency.HEADER)
        if key is not None:
            idempotency.check_key(key)
        data = _json_body(request)
        if key is not None:
            record = idempotency.claim_or_find(
                customer=token.customer,
                key=key,
                fingerprint=idempotency.request_fingerprint(request.method, request.path, data),
            )
            if record.state == record.State.FINISHED:
                return _rendered(idempotency.replay(record))
            claim = record
        response = _submit(request, token.customer, data, claim)
    except Exception as error:  # noqa: BLE001 — every error is answered as problem+json, as DRF's views answer them
        if claim is not None:
            claim.delete()  # nothing was kept: the client may retry with the same key
        return _problem(error, request)
    return response


def _authenticated(request):
    authentication = CustomerTokenAuthentication()
    answer = authentication.authenticate(request)
    if answer is None:
        raise exceptions.NotAuthenticated()
    _principal, token = answer
    return token


def _throttled(token_hash: str) -> None:
    allowance = CustomerTokenThrottle().count(token_hash)
    if not allowance.allowed:
        raise exceptions.Throttled(wait=allowance.seconds_left)


def _acceptable(request) -> None:
    """406 unless the client accepts JSON; the common Accept headers are answered without parsing them."""
    if not accepts_json_plainly(request.META):
        JsonFirstContentNegotiation().select_renderer(Request(request), [_RENDERER])


def _json_body(request):
    if request.content_type != "application/json":
        raise exceptions.UnsupportedMediaType(request.content_type or "(none)")
    return LimitedJSONParser().parse(request, parser_context={"request": request})


def _submit(request, customer, data, claim) -> HttpResponse:
    answer: ReplayableResponse | None = None

    def replayable(order: Order) -> ReplayableResponse:
        # Called by the writer before it commits: the 201 is stored with the order for replays.
        nonlocal answer
        body = order_body(order, request=request)
        answer = ReplayableResponse(
            record_id=None if claim is None else claim.pk, status=201, body=body, headers={"Location": body["url"]}
        )
        return answer

    try:
        order_submit(customer=customer, data=data, actor=Actor.customer(customer), source=Order.Source.API, replayable=replayable)
    except OrderInvalid as invalid:
        raise order_invalid_problem(invalid) from None
    except DuplicatePoNumber as error:
        raise duplicate_po_number_problem(error.existing) from None
    response = HttpResponse(json.dumps(answer.body, ensure_ascii=False, separators=(",", ":")), status=status.HTTP_201_CREATED)
    response["Content-Type"] = "application/json"
    response["Location"] = answer.headers["Location"]
    response["Vary"] = "Accept"
    return response


def _problem(error: Exception, request) -> HttpResponse:
    """The error as every API view answers it (orderdesk.api.problems), rendered as JSON."""
    response = problem_exception_handler(error, {"request": request, "view": None})
    if isinstance(error, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response["WWW-Authenticate"] = CustomerTokenAuthentication().authenticate_header(request)
    return _rendered(response)


def _rendered(response: Response) -> Response:
    response.accepted_renderer = _RENDERER
    response.accepted_media_type = _RENDERER.media_type
    response.renderer_context = {}
    return response.render()
