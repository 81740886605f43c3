"""POST /api/v1/orders/ for the ordinary order: answered without DRF's per-request machinery.

Submitting orders is the API's busiest call. Through DRF and the ORM one
submission cost about 10 ms of CPU, most of it request wrapping, serializers
and compiling ORM queries, against under 1 ms for the cheapest Django request
that stores a row. This path does the same work with the same services, in
plain Python and a few plain statements:

    check the body                plain_order(): OrderInputSerializer's rules
    token and customer            one SELECT   (licensing.authentication.token_owner)
    rate limit                    the throttle's own cache entry (orderdesk.api.throttling)
    claim the Idempotency-Key     one INSERT   (orderdesk.api.idempotency.claim_key) and, in
      and draw the order number   one UPDATE    the same short transaction (orderdesk.numbering)
    the order                     order_submit(): catalog, order, lines, event
    its replayable response       one UPDATE in the order's transaction
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
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from licensing.authentication import token_owner
from orderdesk.api.idempotency import claim_key, is_valid_key, request_fingerprint, store_response
from orderdesk.api.problems import plain_problem_response, server_error_problem
from orderdesk.api.throttling import token_may_proceed
from orderdesk.db import atomic_without_flush_wait
from orderdesk.models import IdempotencyRecord
from orderdesk.numbering import next_number
from orders.api.problems import duplicate_po_number_problem
from orders.api.serializers import MAX_LINES, MAX_QUANTITY
from orders.models import Order
from orders.services.submission import DuplicatePoNumber, LineRequest, UnknownSkus, order_submit
from orders.services.transitions import Actor

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
    key = request.META.get("HTTP_IDEMPOTENCY_KEY")
    if key is not None and not is_valid_key(key):
        return None
    data = _json_body(request)
    order = plain_order(data)
    if order is None:
        return None
    owner = token_owner(request.META.get("HTTP_AUTHORIZATION", ""))
    if owner is None or not token_may_proceed(owner.token_id):
        return None
    setattr(request, COUNTED_ATTRIBUTE, True)
    claimed = _claim_key_and_draw_number(request, data, key, owner.customer)
    if claimed is None:
        return None  # the key has a record: the full path replays it or answers 409 or 422
    record, number = claimed
    try:
        return _submit(request, order, owner.customer, record, number)
    except UnknownSkus:
        _release(record)
        return None  # the full path names the unknown SKUs by their line
    except DuplicatePoNumber as error:
        _release(record)
        return plain_problem_response(duplicate_po_number_problem(error.existing))
    except Exception:
        _release(record)
        logger.exception("unhandled error in the order intake")
        return plain_problem_response(server_error_problem())


def _claim_key_and_draw_number(request, data, key: str | None, customer):
    """(the claimed key's record or None, the order number), or None when the key already has a record.

    One short transaction for both, whose commit need not wait for the disk
    (orderdesk.db): the order's own commit, which waits, comes after it.
    """
    with atomic_without_flush_wait():
        if key is None:
            return None, next_number("O")
        fingerprint = request_fingerprint(request.method, request.path, data)
        record = claim_key(customer=customer, key=key, fingerprint=fingerprint)
        return None if record is None else (record, next_number("O"))


def _submit(request, order: PlainOrder, customer, record, number: str) -> HttpResponse:
    answer = {}

    def store_the_answer(created: Order):
        # Inside the order's transaction: the replayable response commits with the order.
        body = answer["body"] = created_body(created, request)
        if record is not None:
            store_response(record, status=201, body=body, headers={"Location": body["url"]})

    order_submit(
        customer=customer,
        po_number=order.po_number,
        lines=order.lines,
        requested_start=order.requested_start,
        notes=order.notes,
        actor=Actor.customer(customer),
        before_commit=store_the_answer,
        number=number,
    )
    body = answer["body"]
    return HttpResponse(
        JSONRenderer().render(body), status=201, headers={"Location": body["url"]}, content_type="application/json"
    )


def _release(record) -> None:
    """Free the key for the client's retry: nothing was kept. A key whose response was committed stays."""
    if record is not None:
        IdempotencyRecord.objects.filter(pk=record.pk, state=IdempotencyRecord.State.IN_FLIGHT).delete()


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
