"""Periodic housekeeping of the shared API plumbing."""

from celery import shared_task

from orderdesk.api.idempotency import purge_expired_records


@shared_task
def purge_idempotency_records() -> int:
    return purge_expired_records()
