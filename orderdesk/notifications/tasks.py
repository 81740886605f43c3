"""Thin tasks on the `notifications` queue; each takes a primary key (or nothing) and calls one service."""

from celery import shared_task

from orderdesk.notifications.delivery import delivery_attempt, notifications_sweep
from orderdesk.notifications.emails import email_send
from orderdesk.notifications.outbox import events_dispatch


@shared_task
def dispatch_events() -> int:
    return len(events_dispatch())


@shared_task
def deliver_webhook(delivery_id: int) -> None:
    delivery_attempt(delivery_id=delivery_id)


@shared_task
def send_email(email_id: int) -> None:
    email_send(email_id=email_id)


@shared_task
def sweep_notifications() -> dict:
    return notifications_sweep()
