"""Retention of the notifications' records: finished events (with deliveries and attempts) and e-mails go after NOTIFICATIONS_RETENTION_DAYS."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from orderdesk.notifications.models import DeliveryAttempt, Event, OutboundEmail, WebhookDelivery, WebhookEndpoint
from orderdesk.notifications.retention import notifications_prune
from orderdesk.notifications.tasks import prune_notifications

pytestmark = pytest.mark.django_db

Status = WebhookDelivery.Status


def _event(customer, endpoint, *, days_ago: float, delivery: str | None = Status.SUCCEEDED, dispatched: bool = True) -> Event:
    at = timezone.now() - timedelta(days=days_ago)
    event = Event.objects.create(customer=customer, type="order.received", payload={}, created_at=at, dispatched_at=at if dispatched else None)
    if delivery:
        row = WebhookDelivery.objects.create(event=event, endpoint=endpoint, status=delivery, attempts=1, created_at=at, retry_window_from=at)
        DeliveryAttempt.objects.create(delivery=row, number=1, attempted_at=at, succeeded=delivery == Status.SUCCEEDED, status_code=200)
    return event


def _email(customer, *, days_ago: float, status: str) -> OutboundEmail:
    return OutboundEmail.objects.create(
        customer=customer, topic="order:1", kind="order_completed", to=["a@example.jp"], subject="件名", body="本文",
        status=status, created_at=timezone.now() - timedelta(days=days_ago),
    )  # fmt: skip


def test_finished_events_and_emails_older_than_the_retention_are_pruned_with_their_deliveries(customer, settings):
    settings.NOTIFICATIONS_RETENTION_DAYS = 30
    endpoint = WebhookEndpoint.objects.create(customer=customer, url="https://hooks.example/in", events=["order.received"])
    old_delivered = _event(customer, endpoint, days_ago=31)
    old_failed = _event(customer, endpoint, days_ago=40, delivery=Status.FAILED)
    old_no_endpoint = _event(customer, endpoint, days_ago=31, delivery=None)
    old_still_pending = _event(customer, endpoint, days_ago=31, delivery=Status.PENDING)
    old_undispatched = _event(customer, endpoint, days_ago=31, delivery=None, dispatched=False)
    recent = _event(customer, endpoint, days_ago=29)
    old_sent = _email(customer, days_ago=31, status=OutboundEmail.Status.SENT)
    old_failed_email = _email(customer, days_ago=31, status=OutboundEmail.Status.FAILED)
    old_queued = _email(customer, days_ago=31, status=OutboundEmail.Status.QUEUED)
    recent_sent = _email(customer, days_ago=29, status=OutboundEmail.Status.SENT)

    # The beat task: 3 events, their 2 deliveries and 2 attempts; 2 e-mails.
    assert prune_notifications() == {"events": 7, "emails": 2}

    assert set(Event.objects.values_list("pk", flat=True)) == {old_still_pending.pk, old_undispatched.pk, recent.pk}
    assert not Event.objects.filter(pk__in=[old_delivered.pk, old_failed.pk, old_no_endpoint.pk]).exists()
    assert set(WebhookDelivery.objects.values_list("event_id", flat=True)) == {old_still_pending.pk, recent.pk}
    assert DeliveryAttempt.objects.count() == 2
    assert set(OutboundEmail.objects.values_list("pk", flat=True)) == {old_queued.pk, recent_sent.pk}
    assert not OutboundEmail.objects.filter(pk__in=[old_sent.pk, old_failed_email.pk]).exists()
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
    assert notifications_prune() == {"events": 0, "emails": 0}  # safe to repeat


def test_pruning_runs_daily_and_the_retention_outlasts_the_retries():
    assert django_settings.CELERY_BEAT_SCHEDULE["prune-notifications"]["task"] == "orderdesk.notifications.tasks.prune_notifications"
    assert django_settings.NOTIFICATIONS_RETENTION_DAYS * 86400 > django_settings.WEBHOOK_RETRY_FOR_SECONDS
