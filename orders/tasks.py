"""Celery tasks: thin wrappers that take primary keys and call one service.

Only transient errors are retried (the database unreachable, a lock or
statement timeout, a deadlock): with exponential backoff, then the order is
recorded as `failed` for a person to retry. Business errors never reach here:
the pipeline records them as `needs_review`. Anything else is a bug; retrying
it would only repeat it, so the order fails at once with the error recorded.
"""

import logging

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.db import InterfaceError, OperationalError

from orders.services.pipeline import order_advance, order_fail
from orders.services.sweeper import orders_sweep

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (OperationalError, InterfaceError)


@shared_task(bind=True, max_retries=settings.ORDER_STEP_MAX_RETRIES)
def advance_order(self, order_id: int) -> None:
    try:
        order_advance(order_id=order_id)
    except TRANSIENT_ERRORS as error:
        if self.request.retries >= self.max_retries:
            order_fail(order_id=order_id, reason=f"technical error after {self.max_retries} retries: {error}")
            return
        countdown = get_exponential_backoff_interval(
            factor=1, retries=self.request.retries, maximum=settings.ORDER_STEP_RETRY_BACKOFF_MAX_SECONDS, full_jitter=True
        )
        raise self.retry(exc=error, countdown=countdown)
    except Exception as error:
        order_fail(order_id=order_id, reason=f"unexpected error: {error!r}")
        raise


@shared_task
def sweep_stuck_orders() -> int:
    return orders_sweep()
