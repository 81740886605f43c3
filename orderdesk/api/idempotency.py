"""Idempotency-Key handling for every customer POST (API.md, "Idempotency").

first use → processed, response stored for IDEMPOTENCY_TTL_HOURS;
same key + same body → the stored response again, with Idempotent-Replayed: true;
same key + other body → 422 idempotency-key-reused;
same key while the first is still running → 409 idempotency-key-in-flight.

The key is claimed by inserting a row in its own committed transaction before
the request runs, so the unique constraint decides between two concurrent
requests, on any database and across any number of web processes.
"""

import functools
import hashlib
import json
import re
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response

from orderdesk.api.problems import Problem
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
        _check_key(key)
        customer = request.user.customer
        fingerprint = _fingerprint(request)
        record = _claim(customer=customer, key=key, fingerprint=fingerprint)
        if record.state == IdempotencyRecord.State.FINISHED:
            return _replay(record)
        try:
            response = view_method(view, request, *args, **kwargs)
        except Exception:
            record.delete()  # nothing was kept: let the client retry with the same key
            raise
        _finish(record, response)
        return response

    return wrapper


def _check_key(key: str) -> None:
    if not _VALID_KEY.match(key):
        raise Problem(
            400,
            "invalid-idempotency-key",
            "The Idempotency-Key header is not valid.",
            "Idempotency-Key must be 1–255 printable ASCII characters.",
            errors=[{"field": "Idempotency-Key", "code": "invalid", "message": "1–255 printable ASCII characters."}],
        )


def _fingerprint(request) -> str:
    # The parsed body, canonicalised, so key order and white space do not matter.
    body = json.dumps(request.data, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _claim(*, customer, key: str, fingerprint: str) -> IdempotencyRecord:
    """Insert the in-flight row, or return the finished one to replay; raise 409/422 otherwise."""
    now = timezone.now()
    for _attempt in range(2):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    customer=customer,
                    key=key,
                    request_fingerprint=fingerprint,
                    created_at=now,
                    expires_at=now + timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS),
                )
        except IntegrityError:
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
                    "This Idempotency-Key was used with a different request.",
                    "Use a new Idempotency-Key for a different request body.",
                )
            if existing.state == IdempotencyRecord.State.IN_FLIGHT:
                raise Problem(
                    409,
                    "idempotency-key-in-flight",
                    "A request with this Idempotency-Key is still being processed.",
                    "Retry in a moment to get its result.",
                )
            return existing
    raise Problem(
        409, "idempotency-key-in-flight", "A request with this Idempotency-Key is still being processed.", "Retry in a moment."
    )


def _abandoned(record: IdempotencyRecord, now) -> bool:
    """An in-flight claim older than the timeout belongs to a request whose process died."""
    limit = timedelta(seconds=settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS)
    return record.state == IdempotencyRecord.State.IN_FLIGHT and record.created_at <= now - limit


def _finish(record: IdempotencyRecord, response: Response) -> None:
    if response.status_code >= 500:
        record.delete()
        return
    record.state = IdempotencyRecord.State.FINISHED
    record.response_status = response.status_code
    record.response_body = response.data
    record.response_headers = {name: response[name] for name in _STORED_HEADERS if response.has_header(name)}
    record.save(update_fields=["state", "response_status", "response_body", "response_headers"])


def _replay(record: IdempotencyRecord) -> Response:
    headers = {**record.response_headers, REPLAY_HEADER: "true"}
    return Response(record.response_body, status=record.response_status, headers=headers)


def purge_expired_records() -> int:
    """Delete stored responses past their 24 h; run periodically."""
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
