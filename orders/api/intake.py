"""POST /api/v1/orders/ for the ordinary order: answered without DRF's per-request machinery.

Submitting orders is the API's busiest call, and in a surge the web
processes' CPU is what limits it. Through DRF and the ORM one submission cost
about 10 ms of CPU, most of it request wrapping, serializers, compiling ORM
queries and thirteen round trips to the database, against under 1 ms for the
cheapest Django request that stores a row. This path does the same work, on
PostgreSQL, with one cache round trip and two prepared statements:

    check the body                plain_order(): OrderInputSerializer's rules
    rate limit                    one counter in the cache, by the token's hash (orderdesk.api.throttling)
    token and customer,           claim_submission(): one statement that commits on its own
      claim the Idempotency-Key,    (orders.api.intake_statements)
      order number and id,
      the catalog's prices
    price the order               order_build(): the same as every other source of orders
    the order, lines, event       write_order(): one statement, one commit
      and the replayable 201
    the 201                       created_body(): what OrderSerializer writes

Everything out of the ordinary is handed, untouched, to OrderViewSet.create
(DRF), which answers it as it always has: a body these checks do not take as
it is (the serializer then names the wrong fields), a missing or refused
token (401), a throttled token (429 with Retry-After), a key that was used
before (replay, 409 or 422), an unknown SKU, another media type. So every
error format lives in one place, and the checks here only have to recognise
the ordinary request: when in doubt they hand over. tests/test_api_intake.py
holds them to the serializer.
"""

import json
import logging
import re
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, connection, transaction
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from licensing.authentication import CustomerTokenAuthentication
from licensing.models import Customer, hash_token
from orderdesk.api.idempotency import is_valid_key, request_fingerprint
from orderdesk.api.problems import plain_problem_response, server_error_problem
from orderdesk.api.throttling import token_may_proceed
from orderdesk.models import IdempotencyRecord
from orders.api.intake_statements import Claim, claim_submission, write_order
from orders.api.problems import duplicate_po_number_problem
from orders.api.serializers import MAX_LINES, MAX_QUANTITY
from orders.models import Order
from orders.services.queueing import enqueue_new_order
from orders.services.submission import (
    RECEIVED_REASON,
    DuplicatePoNumber,
    LineRequest,
    UnknownSkus,
    check_skus_known,
    order_build,
    raise_if_po_number_used,
)
from orders.services.transitions import Actor, new_event

logger = logging.getLogger(__name__)

# Set on a request this path counted against its token's rate limit before handing it over,
# so that DRF does not count it a second time (OrderViewSet.get_throttles).
COUNTED_ATTRIBUTE = "rate_limit_counted_by_intake"

_ACCEPTED_MEDIA_TYPES = {None, "*/*", "application/json"}
# DRF's CharField refuses NUL characters and lone surrogates (which JSON escapes can carry).
_REFUSED_CHARACTERS = re.compile("[\x00\ud800-\udfff]")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = serializers.DateTimeField()  # formats created_at exactly as OrderSerializer does


@dataclass(frozen=True)
class PlainOrder:
    """A submitted order body that passed OrderInputSerializer's rules, as its validated_data would hold it."""

    po_number: str
    lines: list[LineRequest]
    requested_start: date | None
    notes: str


def submit_order(request) -> HttpResponse | None:
    """Answer an ordinary order submission, or return None to let OrderViewSet.create answer it."""
    if connection.vendor != "postgresql":
        return None  # the embedded SQLite mode: DRF's path does it all
    key = request.META.get("HTTP_IDEMPOTENCY_KEY")
    if key is not None and not is_valid_key(key):
        return None
    data = _json_body(request)
    order = plain_order(data)
    if order is None:
        return None
    token_hash = _token_hash(request.META.get("HTTP_AUTHORIZATION", ""))
    if token_hash is None or not token_may_proceed(token_hash):
        return None
    claim = claim_submission(
        token_hash=token_hash,
        key=key,
        fingerprint="" if key is None else request_fingerprint(request.method, request.path, data),
        skus=[line.sku for line in order.lines],
        now=timezone.now(),
    )
    if claim is None:
        return None  # not a token that counts: DRF answers 401
    setattr(request, COUNTED_ATTRIBUTE, True)
    if claim.number is None:
        return None  # the key has a record: the full path replays it or answers 409 or 422
    try:
        return _submit(request, order, claim)
    except UnknownSkus:
        _release(claim.record_id)
        return None  # the full path names the unknown SKUs by their line
    except DuplicatePoNumber as error:
        _release(claim.record_id)
        return plain_problem_response(duplicate_po_number_problem(error.existing))
    except Exception:
        _release(claim.record_id)
        logger.exception("unhandled error in the order intake")
        return plain_problem_response(server_error_problem())


def _token_hash(authorization: str) -> str | None:
    """The hash of the key in an `Authorization: Token <key>` value; None for anything else (DRF answers 401)."""
    parts = authorization.split()
    if len(parts) != 2 or parts[0].lower() != CustomerTokenAuthentication.keyword.lower() or not parts[1].isascii():
        return None
    return hash_token(parts[1])


def _submit(request, plain: PlainOrder, claim: Claim) -> HttpResponse:
    check_skus_known(plain.lines, claim.products)
    customer = Customer.from_db(connection.alias, ["id", "code"], [claim.customer_id, claim.customer_code])
    order = order_build(
        number=claim.number,
        customer=customer,
        po_number=plain.po_number,
        lines=plain.lines,
        products=claim.products,
        requested_start=plain.requested_start,
        notes=plain.notes,
        source=Order.Source.API,
        discount=0,
        quote=None,
    )
    order.pk = claim.order_id
    for line in order.prefetched_lines:
        line.order = order
    event = new_event(order=order, actor=Actor.customer(customer), to_status=order.status, reason=RECEIVED_REASON)
    body = created_body(order, request)
    headers = {"Location": body["url"]}
    try:
        write_order(order=order, event=event, record_id=claim.record_id, response_body=body, response_headers=headers)
    except IntegrityError:
        raise_if_po_number_used(customer_id=customer.pk, po_number=order.po_number)
        raise
    transaction.on_commit(lambda: enqueue_new_order(order.pk))
    return HttpResponse(JSONRenderer().render(body), status=201, headers=headers, content_type="application/json")


def _release(record_id: int | None) -> None:
    """Free the key for the client's retry: nothing was kept. A key whose response was committed stays."""
    if record_id is not None:
        IdempotencyRecord.objects.filter(pk=record_id, state=IdempotencyRecord.State.IN_FLIGHT).delete()


def _json_body(request):
    """The parsed JSON body, or None when it is not plainly a JSON body of acceptable size."""
    if request.META.get("HTTP_ACCEPT") not in _ACCEPTED_MEDIA_TYPES:
        return None
    if request.content_type != "application/json" or request.content_params.get("charset", "utf-8").lower() != "utf-8":
        return None
    length = request.META.get("CONTENT_LENGTH", "")
    if not length.isdigit() or int(length) > settings.API_MAX_BODY_BYTES:
        return None
    try:
        # request.body keeps the bytes, so the full path can still parse them when this one hands over.
        return json.loads(request.body.decode("utf-8"))
    except (RequestDataTooBig, UnicodeDecodeError, ValueError):
        return None


class _NotPlain(Exception):
    """The body is not plainly valid: let the serializer judge it."""


def plain_order(data) -> PlainOrder | None:
    """OrderInputSerializer's rules for a body that keeps to them as sent, else None.

    Stricter than the serializer where that keeps this simple: a quantity
    must be a JSON integer (not "50" or 50.0), a date must be YYYY-MM-DD. What
    this refuses, the serializer still accepts or refuses with the field's
    name; what this accepts, the serializer accepts with the same values.
    """
    if type(data) is not dict:
        return None
    try:
        return PlainOrder(
            po_number=_text(data.get("po_number"), max_length=64),
            lines=_lines(data.get("lines")),
            requested_start=_requested_start(data.get("requested_start")),
            notes=_text(data.get("notes", ""), max_length=2000, blank=True),
        )
    except _NotPlain:
        return None


def _text(value, *, max_length: int, blank: bool = False) -> str:
    if type(value) is not str:
        raise _NotPlain
    value = value.strip()  # as CharField(trim_whitespace=True)
    if (not value and not blank) or len(value) > max_length or _REFUSED_CHARACTERS.search(value):
        raise _NotPlain
    return value


def _lines(value) -> list[LineRequest]:
    if type(value) is not list or not 1 <= len(value) <= MAX_LINES:
        raise _NotPlain
    lines = []
    for line in value:
        if type(line) is not dict:
            raise _NotPlain
        sku, quantity = _text(line.get("sku"), max_length=32), line.get("quantity")
        if type(quantity) is not int or not 1 <= quantity <= MAX_QUANTITY:
            raise _NotPlain
        lines.append(LineRequest(sku=sku, quantity=quantity))
    if len({line.sku for line in lines}) != len(lines):
        raise _NotPlain  # a SKU twice
    return lines


def _requested_start(value) -> date | None:
    if value is None:
        return None
    if type(value) is not str or not _ISO_DATE.fullmatch(value):
        raise _NotPlain
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise _NotPlain from None
    if day < timezone.localdate():
        raise _NotPlain
    return day


def created_body(order: Order, request) -> dict:
    """The 201 body of a just-submitted order: what OrderSerializer writes for it, built directly."""
    return {
        "number": order.number,
        "status": order.status,
        "status_reason": order.status_reason,
        "po_number": order.po_number,
        "lines": [
            {
                "sku": line.sku,
                "name": line.product_name,
                "quantity": line.quantity,
                "unit": line.unit,
                "unit_price": line.unit_price,
                "amount": line.amount,
                "tax_rate": line.tax_rate,
            }
            for line in order.prefetched_lines
        ],
        "discount": order.discount,
        "subtotal": order.subtotal,
        "tax": order.tax,
        "total": order.total,
        "requested_start": order.requested_start.isoformat() if order.requested_start else None,
        "notes": order.notes,
        "quote": None,  # orders from a quote are made by accepting it, not here
        "created_at": _DATETIME.to_representation(order.created_at),
        "url": request.build_absolute_uri(reverse("api:order-detail", kwargs={"number": order.number})),
    }
