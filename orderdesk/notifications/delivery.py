"""Delivering one event to one endpoint, at least once, and the retry schedule.

    delivery_attempt(delivery_id=…)   one attempt, if the delivery is due and no one else holds it
    retry_delay(attempts)             seconds until the next attempt
    delivery_send_again(delivery=…)   staff or the customer: deliver once more, with a fresh retry window
    notifications_sweep()             publish again what a lost message left waiting

An attempt claims its delivery by compare-and-set (pending, due, lease
expired → leased for WEBHOOK_LEASE_SECONDS), does the HTTP request holding
no database lock, then records the attempt and the outcome. A worker killed
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
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from orderdesk.notifications.models import DeliveryAttempt, Event, WebhookDelivery, WebhookEndpoint
from orderdesk.notifications.outbox import publish, publish_deliveries, publish_dispatch, undispatched_waiting
from orderdesk.notifications.safe_http import PostResult, safe_post
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


def delivery_attempt(*, delivery_id: int) -> PostResult | None:
    """One attempt of a due delivery no one else holds; None when there was nothing to do."""
    now = timezone.now()
    claimed = (
        WebhookDelivery.objects.filter(pk=delivery_id, status=Status.PENDING, next_attempt_at__lte=now)
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        .update(leased_until=now + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS), attempts=F("attempts") + 1, last_attempt_at=now)
    )
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("event", "endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        WebhookDelivery.objects.filter(pk=delivery_id, status=Status.PENDING).update(status=Status.FAILED, leased_until=None)
        return None
    body = event_body(delivery.event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Orderdesk-Event-Id": delivery.event.public_id,
        "Orderdesk-Event-Type": delivery.event.type,
        SIGNATURE_HEADER: signature_header(body=body, secrets=endpoint.signing_secrets(now=now)),
    }
    result = safe_post(endpoint.url, body=body, headers=headers)
    _record(delivery=delivery, result=result)
    return result


def _record(*, delivery: WebhookDelivery, result: PostResult) -> None:
    now = timezone.now()
    retry_in = None
    with transaction.atomic():
        try:
            with transaction.atomic():
                DeliveryAttempt.objects.create(
                    delivery=delivery,
                    number=delivery.attempts,
                    attempted_at=delivery.last_attempt_at,
                    succeeded=result.succeeded,
                    status_code=result.status_code,
                    duration_ms=result.duration_ms,
                    response_excerpt=result.excerpt,
                    error=result.error,
                )
        except IntegrityError:
            pass  # a second recording of the same attempt (a lease that expired under a slow worker)
        pending = WebhookDelivery.objects.filter(pk=delivery.pk, status=Status.PENDING)
        endpoints = WebhookEndpoint.objects.filter(pk=delivery.endpoint_id)
        if result.succeeded:
            pending.update(status=Status.SUCCEEDED, delivered_at=now, leased_until=None, next_attempt_at=None)
            endpoints.filter(failing_since__isnull=False).update(failing_since=None)
            return
        endpoints.filter(failing_since__isnull=True).update(failing_since=delivery.last_attempt_at)
        if now - delivery.retry_window_from >= timedelta(seconds=settings.WEBHOOK_RETRY_FOR_SECONDS):
            pending.update(status=Status.FAILED, leased_until=None, next_attempt_at=None)
        else:
            retry_in = retry_delay(delivery.attempts)
            pending.update(leased_until=None, next_attempt_at=now + timedelta(seconds=retry_in))
        endpoint = endpoints.get()
        if endpoint.is_active and endpoint.failing_since and now - endpoint.failing_since >= timedelta(
            seconds=settings.WEBHOOK_DISABLE_AFTER_SECONDS
        ):
            endpoint_disable_failing(endpoint=endpoint)
            retry_in = None
    if retry_in is not None and retry_in <= settings.WEBHOOK_RETRY_PUBLISH_WITHIN_SECONDS:
        # A near retry goes as a delayed message; a far one is left to the sweeper (a worker holds a
        # delayed message unacknowledged until it is due, and a broker redelivers those after its visibility timeout).
        from orderdesk.notifications.tasks import deliver_webhook

        transaction.on_commit(lambda: publish(deliver_webhook, args=[delivery.pk], countdown=retry_in))


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
    from orderdesk.notifications.tasks import deliver_webhook

    transaction.on_commit(lambda: publish(deliver_webhook, args=[delivery.pk]))
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
        .values_list("pk", flat=True)[: settings.WEBHOOK_SWEEP_BATCH]
    )
    publish_deliveries(due)
    counts["deliveries"] = len(due)
    for email_id in emails_waiting(older_than=grace, limit=settings.WEBHOOK_SWEEP_BATCH):
        publish(send_email, args=[email_id])
        counts["emails"] += 1
    return counts
