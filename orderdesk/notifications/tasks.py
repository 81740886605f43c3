"""Thin tasks on the `notifications` queue; each takes a primary key (or nothing) and calls one service."""

from celery import shared_task

from orderdesk.notifications.delivery import deliveries_attempt, notifications_sweep
from orderdesk.notifications.emails import email_send
from orderdesk.notifications.outbox import events_dispatch
from orderdesk.notifications.retention import notifications_prune


@shared_task
def dispatch_events() -> int:
    return len(events_dispatch())


@shared_task
def deliver_webhooks(delivery_ids: list[int]) -> int:
    return len(deliveries_attempt(delivery_ids=delivery_ids))


@shared_task
def send_email(email_id: int) -> None:
    email_send(email_id=email_id)


@shared_task
def sweep_notifications() -> dict:
    return notifications_sweep()


@shared_task
def prune_notifications() -> dict:
    return notifications_prune()
