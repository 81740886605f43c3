"""Delivering one event to one endpoint, at least once, and the retry schedule.

    deliveries_attempt(delivery_ids=…)   one attempt of each that is due and no one else holds
    retry_delay(attempts)             seconds until the next attempt
    delivery_send_again(delivery=…)   staff or the customer: deliver once more, with a fresh retry window
    notifications_sweep()             publish again what a lost message left waiting

An attempt claims its delivery by compare-and-set (pending, due, lease
expired → leased for WEBHOOK_LEASE_SECONDS), does the HTTP request holding
no database lock, then records the attempt and the outcome. A message's batch
(WEBHOOK_DELIVERY_BATCH, grouped by endpoint) is claimed and recorded with a
few statements for the whole batch, its POSTs share one kept-alive connection
per endpoint, and it starts none after WEBHOOK_DELIVERY_BATCH_SECONDS (the
rest is published again), so the lease outlasts it. A worker killed
in the middle leaves the lease to expire; the message comes back (acks late)
or the sweeper publishes it, and the next attempt delivers the event again
with the same event id: receivers de-duplicate on it.

Failed attempts are retried after WEBHOOK_RETRY_FIRST_SECONDS, doubling up to
WEBHOOK_RETRY_MAX_SECONDS, each randomised to between half and all of it
(jitter), until WEBHOOK_RETRY_FOR_SECONDS after the first attempt. An
endpoint whose attempts have failed without a success in between for
WEBHOOK_DISABLE_AFTER_SECONDS is disabled and the customer's billing contact
is e-mailed.
"""

import json
import logging
import random
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from orderdesk.notifications.models import DeliveryAttempt, Event, WebhookDelivery, WebhookEndpoint
from orderdesk.notifications.outbox import publish, publish_deliveries, publish_dispatch, undispatched_waiting
from orderdesk.notifications.safe_http import PostResult, SafePoster
from orderdesk.notifications.signing import SIGNATURE_HEADER, signature_header

logger = logging.getLogger(__name__)

Status = WebhookDelivery.Status
USER_AGENT = "Orderdesk-Webhooks/1.0"


def retry_delay(attempts: int, *, rng: random.Random | None = None) -> float:
    """Seconds to wait after the `attempts`-th failed attempt: exponential, capped, with jitter (half to all)."""
    full = min(settings.WEBHOOK_RETRY_FIRST_SECONDS * 2 ** max(attempts - 1, 0), settings.WEBHOOK_RETRY_MAX_SECONDS)
    return full / 2 + (rng or random).uniform(0, full / 2)


def event_envelope(event: Event) -> dict:
    """What the receiver gets: a stable id to de-duplicate on, the type, when, and the resource."""
    return {
        "id": event.public_id,
        "type": event.type,
        "created_at": timezone.localtime(event.created_at).isoformat(),
        "data": event.payload,
    }


def event_body(event: Event) -> bytes:
    return json.dumps(event_envelope(event), ensure_ascii=False, separators=(",", ":")).encode()


def deliveries_attempt(*, delivery_ids: Sequence[int]) -> list[PostResult]:
    """One attempt of each due delivery no one else holds, one after the other; the results of those attempted.

    The claim is one UPDATE that marks the rows with this call's token (a
    second worker's UPDATE re-checks the lease and skips them); the requests
    hold no database lock; the outcomes are recorded in one transaction.
    """
    now = timezone.now()
    token = uuid.uuid4().hex
    claimed = (
        WebhookDelivery.objects.filter(pk__in=list(delivery_ids), status=Status.PENDING, next_attempt_at__lte=now)
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        .update(
            leased_until=now + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS),
            lease_token=token,
            attempts=F("attempts") + 1,
            last_attempt_at=now,
        )
    )
    if not claimed:
        return []
    deliveries = list(
        WebhookDelivery.objects.select_related("event", "endpoint").filter(lease_token=token, pk__in=list(delivery_ids)).order_by("pk")
    )
    inactive = [d.pk for d in deliveries if not d.endpoint.is_active]
    if inactive:
        WebhookDelivery.objects.filter(pk__in=inactive, lease_token=token).update(status=Status.FAILED, leased_until=None, next_attempt_at=None)
    attempted, unreachable, skipped, left = [], set(), [], []
    stop_at = time.monotonic() + settings.WEBHOOK_DELIVERY_BATCH_SECONDS
    with SafePoster() as poster:  # one kept-alive connection per endpoint's origin for the batch
        for delivery in deliveries:
            if not delivery.endpoint.is_active:
                continue
            if delivery.endpoint_id in unreachable:
                skipped.append(delivery.pk)  # its endpoint did not answer just now: not attempted, due again
                continue
            if time.monotonic() >= stop_at:
                left.append(delivery.pk)  # the batch ran long (slow receivers): the rest goes in a new message
                continue
            result = _post(poster, delivery, now=now)
            attempted.append((delivery, result))
            if result.status_code is None:
                unreachable.add(delivery.endpoint_id)
    if skipped or left:
        WebhookDelivery.objects.filter(pk__in=skipped + left, lease_token=token).update(
            leased_until=None, lease_token="", attempts=F("attempts") - 1
        )
    if left:
        publish_deliveries(left)
    _record(attempted, token=token)
    return [result for _delivery, result in attempted]


def delivery_attempt(*, delivery_id: int) -> PostResult | None:
    """One attempt of one due delivery; None when there was nothing to do."""
    results = deliveries_attempt(delivery_ids=[delivery_id])
    return results[0] if results else None


def _post(poster: SafePoster, delivery: WebhookDelivery, *, now) -> PostResult:
    body = event_body(delivery.event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Orderdesk-Event-Id": delivery.event.public_id,
        "Orderdesk-Event-Type": delivery.event.type,
        SIGNATURE_HEADER: signature_header(body=body, secrets=delivery.endpoint.signing_secrets(now=now)),
    }
    return poster.post(delivery.endpoint.url, body=body, headers=headers)


def _record(attempted: list[tuple[WebhookDelivery, PostResult]], *, token: str) -> None:
    """The attempts and their outcomes: delivered, retry later, or given up; endpoints that failed too long disabled."""
    if not attempted:
        return
    now = timezone.now()
    retries: list[tuple[int, float]] = []
    with transaction.atomic():
        DeliveryAttempt.objects.bulk_create(
            [
                DeliveryAttempt(
                    delivery_id=delivery.pk,
                    number=delivery.attempts,
                    attempted_at=delivery.last_attempt_at,
                    succeeded=result.succeeded,
                    status_code=result.status_code,
                    duration_ms=result.duration_ms,
                    response_excerpt=result.excerpt,
                    error=result.error,
                )
                for delivery, result in attempted
            ],
            ignore_conflicts=True,  # a second recording of one attempt (a lease that expired under a slow worker)
        )
        mine = WebhookDelivery.objects.filter(lease_token=token, status=Status.PENDING)
        succeeded = [delivery for delivery, result in attempted if result.succeeded]
        failed = [delivery for delivery, result in attempted if not result.succeeded]
        if succeeded:
            mine.filter(pk__in=[d.pk for d in succeeded]).update(
                status=Status.SUCCEEDED, delivered_at=now, leased_until=None, next_attempt_at=None
            )
            WebhookEndpoint.objects.filter(pk__in={d.endpoint_id for d in succeeded}, failing_since__isnull=False).update(
                failing_since=None
            )
        for delivery in failed:
            if now - delivery.retry_window_from >= timedelta(seconds=settings.WEBHOOK_RETRY_FOR_SECONDS):
                mine.filter(pk=delivery.pk).update(status=Status.FAILED, leased_until=None, next_attempt_at=None)
            else:
                delay = retry_delay(delivery.attempts)
                mine.filter(pk=delivery.pk).update(leased_until=None, next_attempt_at=now + timedelta(seconds=delay))
                retries.append((delivery.pk, delay))
        failing_endpoints = {d.endpoint_id: d.last_attempt_at for d in failed if d.endpoint_id not in {s.endpoint_id for s in succeeded}}
        for endpoint_id, since in failing_endpoints.items():
            WebhookEndpoint.objects.filter(pk=endpoint_id, failing_since__isnull=True).update(failing_since=since)
            endpoint = WebhookEndpoint.objects.select_related("customer").get(pk=endpoint_id)
            if endpoint.is_active and now - endpoint.failing_since >= timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER_SECONDS):
                endpoint_disable_failing(endpoint=endpoint)
                retries = [(pk, delay) for pk, delay in retries if pk not in {d.pk for d in failed if d.endpoint_id == endpoint_id}]
        # A near retry goes as a delayed message; a far one is left to the sweeper (a worker holds a delayed
        # message unacknowledged until it is due, and Redis hands those out again after its visibility timeout).
        from orderdesk.notifications.tasks import deliver_webhooks

        for delivery_id, delay in retries:
            if delay <= settings.WEBHOOK_RETRY_PUBLISH_WITHIN_SECONDS:
                transaction.on_commit(lambda delivery_id=delivery_id, delay=delay: publish(deliver_webhooks, args=[[delivery_id]], countdown=delay))


def endpoint_disable_failing(*, endpoint: WebhookEndpoint) -> bool:
    """Disable an endpoint that has failed for too long, fail its pending deliveries, e-mail the customer's contact."""
    from orderdesk.notifications.emails import email_enqueue
    from orderdesk.notifications.mail_texts import endpoint_disabled_message

    now = timezone.now()
    with transaction.atomic():
        disabled = WebhookEndpoint.objects.filter(pk=endpoint.pk, is_active=True).update(
            is_active=False, disabled_at=now, disabled_reason="failing since " + endpoint.failing_since.isoformat(), updated_at=now
        )
        if not disabled:
            return False
        WebhookDelivery.objects.filter(endpoint_id=endpoint.pk, status=Status.PENDING).update(
            status=Status.FAILED, leased_until=None, next_attempt_at=None
        )
        customer = endpoint.customer
        if customer.billing_email:
            subject, body = endpoint_disabled_message(endpoint=endpoint, customer=customer)
            email_enqueue(
                customer_id=customer.pk,
                topic=f"webhook-endpoint:{endpoint.pk}",
                kind="webhook_endpoint_disabled",
                to=[customer.billing_email],
                subject=subject,
                body=body,
            )
    logger.warning("webhook endpoint %s (%s) disabled after failing since %s", endpoint.pk, endpoint.url, endpoint.failing_since)
    return True


def delivery_send_again(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Deliver once more now (staff's "send again", or the customer's): pending, due, with a new retry window."""
    now = timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=Status.PENDING, next_attempt_at=now, leased_until=None, retry_window_from=now, delivered_at=None
    )
    from orderdesk.notifications.tasks import deliver_webhooks

    transaction.on_commit(lambda: publish(deliver_webhooks, args=[[delivery.pk]]))
    delivery.refresh_from_db()
    return delivery


def notifications_sweep() -> dict:
    """Publish again whatever waits in the tables without a message: undispatched events, due deliveries, queued e-mail."""
    from orderdesk.notifications.emails import emails_waiting
    from orderdesk.notifications.tasks import send_email

    now = timezone.now()
    grace = timedelta(seconds=settings.WEBHOOK_SWEEP_GRACE_SECONDS)
    counts = {"dispatch": 0, "deliveries": 0, "emails": 0}
    if undispatched_waiting(older_than=grace):
        counts["dispatch"] = int(publish_dispatch())
    due = list(
        WebhookDelivery.objects.filter(status=Status.PENDING, next_attempt_at__lte=now - grace)
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("endpoint_id", "pk")[: settings.WEBHOOK_SWEEP_BATCH]
    )
    due = [pk for _endpoint_id, pk in sorted(due)]  # grouped by endpoint, as events_dispatch publishes them
    publish_deliveries(due)
    counts["deliveries"] = len(due)
    for email_id in emails_waiting(older_than=grace, limit=settings.WEBHOOK_SWEEP_BATCH):
        publish(send_email, args=[email_id])
        counts["emails"] += 1
    return counts
