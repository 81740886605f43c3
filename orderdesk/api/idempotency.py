"""Idempotency-Key handling for every customer POST (API.md, "Idempotency").

first use → processed, response stored for IDEMPOTENCY_TTL_HOURS;
same key + same body → the stored response again, with Idempotent-Replayed: true;
same key + other body → 422 idempotency-key-reused;
same key while the first is still running → 409 idempotency-key-in-flight.

The key is claimed by inserting a row in its own committed transaction before
the request runs, so the unique constraint decides between two concurrent
requests, on any database and across any number of web processes. The claim's
commit does not wait for the disk (orderdesk.db): whatever the request then
commits flushes the claim with it.

The order intake (orders.api.submit) claims the key itself with the same
functions and stores its 201 inside the order's own transaction
(orders.services.order_writer), so that there is no moment when the order
exists but its key still reads as in flight.
"""

import functools
import hashlib
import json
import math
import re
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.response import Response

from orderdesk.api.problems import Problem
from orderdesk.db import fetch_one, no_flush_wait_column
from orderdesk.models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
_VALID_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")
# Response headers worth replaying; the rest are recomputed by Django.
_STORED_HEADERS = ("Location",)


def idempotent(view_method):
    """Decorate an APIView's post(): the customer's Idempotency-Key makes retries safe."""

    @functools.wraps(view_method)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view_method(view, request, *args, **kwargs)
        check_key(key)
        customer = request.user.customer
        fingerprint = _fingerprint(request)
        record = claim_or_find(customer=customer, key=key, fingerprint=fingerprint)
        if record.state == IdempotencyRecord.State.FINISHED:
            return replay(record)
        try:
            response = view_method(view, request, *args, **kwargs)
        except Exception:
            record.delete()  # nothing was kept: let the client retry with the same key
            raise
        _finish(record, response)
        return response

    return wrapper


def finish_record(record_id: int, *, status: int, body, headers: dict[str, str]) -> None:
    """Mark the key finished with the response its replays get (`body` as JSON-ready data). One UPDATE."""
    IdempotencyRecord.objects.filter(pk=record_id).update(
        state=IdempotencyRecord.State.FINISHED, response_status=status, response_body=body, response_headers=headers
    )


def is_valid_key(key: str) -> bool:
    return _VALID_KEY.match(key) is not None


def check_key(key: str) -> None:
    if not is_valid_key(key):
        raise Problem(
            400,
            "invalid-idempotency-key",
            _("The Idempotency-Key header is not valid."),
            _("Idempotency-Key must be 1–255 printable ASCII characters."),
            errors=[{"field": "Idempotency-Key", "code": "invalid", "message": _("1–255 printable ASCII characters.")}],
        )


def _fingerprint(request) -> str:
    return request_fingerprint(request.method, request.path, request.data)


def request_fingerprint(method: str, path: str, data) -> str:
    """What makes two requests with one key "the same": the parsed body, canonicalised, so key order and white space do not matter.

    A JSON string may carry a lone surrogate ("\\ud800"), which UTF-8 cannot encode:
    "surrogatepass" hashes it rather than failing (the body's checks then refuse it).
    """
    body = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(f"{method} {path}\n{body}".encode("utf-8", "surrogatepass")).hexdigest()


def claim_key(*, customer, key: str, fingerprint: str) -> IdempotencyRecord | None:
    """Claim a key that has no record yet: the new in-flight record, or None if the key already has one.

    One INSERT … ON CONFLICT DO NOTHING, committed on its own without waiting
    for the disk (orderdesk.db), so the unique constraint decides between
    concurrent requests. Every POST with a key runs it: one prepared
    statement, its text built once.
    """
    now = timezone.now()
    expires_at = now + timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)
    adapt = connection.ops.adapt_datetimefield_value
    row = fetch_one(
        _claim_sql(no_flush_wait_column()),
        [customer.pk, key, fingerprint, IdempotencyRecord.State.IN_FLIGHT.value, adapt(now), adapt(expires_at)],
    )
    if row is None:
        return None
    return IdempotencyRecord.from_db(
        connection.alias,
        ["id", "customer_id", "key", "request_fingerprint", "state", "created_at", "expires_at"],
        [row[0], customer.pk, key, fingerprint, IdempotencyRecord.State.IN_FLIGHT.value, now, expires_at],
    )


@functools.cache
def _claim_sql(no_flush_wait: str) -> str:
    # response_headers has no default in the database: the literal '{}' is valid JSON on both backends.
    return (
        "INSERT INTO orderdesk_idempotencyrecord"
        " (customer_id, key, request_fingerprint, state, created_at, expires_at, response_headers)"
        f" VALUES (%s, %s, %s, %s, %s, %s, '{{}}') ON CONFLICT DO NOTHING RETURNING id{no_flush_wait}"
    )


def claim_or_find(*, customer, key: str, fingerprint: str) -> IdempotencyRecord:
    """Claim the key (a new in-flight record), or return its finished record to replay; raise 409/422 otherwise."""
    now = timezone.now()
    for _attempt in range(2):
        record = claim_key(customer=customer, key=key, fingerprint=fingerprint)
        if record is not None:
            return record
        existing = IdempotencyRecord.objects.filter(customer=customer, key=key).first()
        if existing is None:
            continue  # deleted in between (expired or failed): try to claim again
        if existing.expires_at <= now or _abandoned(existing, now):
            IdempotencyRecord.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
            continue
        if existing.request_fingerprint != fingerprint:
            raise Problem(
                422,
                "idempotency-key-reused",
                _("This Idempotency-Key was used with a different request."),
                _("Use a new Idempotency-Key for a different request body."),
            )
        if existing.state == IdempotencyRecord.State.IN_FLIGHT:
            raise _in_flight(existing, now)
        return existing
    raise _in_flight(None, now)


# A claim younger than this most likely belongs to a request about to finish: retry in a second.
_FRESH_CLAIM_SECONDS = 2


def _in_flight(record: IdempotencyRecord | None, now) -> Problem:
    """409 with Retry-After: a second while the claim is fresh, else the seconds until it lapses (its request died)."""
    timeout = settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS
    age = 0.0 if record is None else (now - record.created_at).total_seconds()
    retry_after = 1 if age < _FRESH_CLAIM_SECONDS else max(1, math.ceil(timeout - age))
    return Problem(
        409,
        "idempotency-key-in-flight",
        _("A request with this Idempotency-Key is still being processed."),
        _(
            "Retry in %(retry_after)d s to get its result. If that request was cut off, the key is free again "
            "%(timeout)d s after it started."
        )
        % {"retry_after": retry_after, "timeout": timeout},
        headers={"Retry-After": str(retry_after)},
    )


def _abandoned(record: IdempotencyRecord, now) -> bool:
    """An in-flight claim older than the timeout belongs to a request whose process died."""
    limit = timedelta(seconds=settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS)
    return record.state == IdempotencyRecord.State.IN_FLIGHT and record.created_at <= now - limit


def _finish(record: IdempotencyRecord, response: Response) -> None:
    if response.status_code >= 500:
        record.delete()
        return
    headers = {name: response[name] for name in _STORED_HEADERS if response.has_header(name)}
    finish_record(record.pk, status=response.status_code, body=response.data, headers=headers)


def replay(record: IdempotencyRecord) -> Response:
    """The stored response again, marked Idempotent-Replayed."""
    headers = {**record.response_headers, REPLAY_HEADER: "true"}
    return Response(record.response_body, status=record.response_status, headers=headers)


def purge_expired_records() -> int:
    """Delete stored responses past their 24 h; run periodically."""
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
