"""Celery tasks: thin wrappers that take primary keys and call one service."""

from celery import shared_task
from django.db import OperationalError

from orders.services.pipeline import order_advance

TRANSIENT_ERRORS = (OperationalError,)


@shared_task(bind=True, autoretry_for=TRANSIENT_ERRORS, retry_backoff=True, max_retries=5)
def advance_order(self, order_id: int) -> None:
    order_advance(order_id=order_id)
