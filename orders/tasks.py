"""Celery tasks: thin wrappers that take primary keys and call one service.

Only transient errors are retried (the database unreachable, a lock or
statement timeout, a deadlock): with exponential backoff, then the orders are
recorded as `failed` for a person to retry (new orders a gather could not take
stay `received`, for the sweeper). Other errors never reach here: the
pipeline holds an order whose seats the ledger refuses (`needs_review`) and
fails at once an order that meets a bug (retrying would only repeat it).
"""

import logging

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings

from orders.services.imports import import_check, import_run
from orders.services.pipeline import TRANSIENT_ERRORS, order_fail, orders_advance, orders_gather_received
from orders.services.sweeper import orders_sweep

logger = logging.getLogger(__name__)


@shared_task(bind=True, max_retries=settings.ORDER_STEP_MAX_RETRIES)
def advance_order(self, order_id: int, status: str | None = None) -> None:
    """One order's message (a person's action: approve, retry)."""
    _advance(self, order_ids=[order_id], status=status)


@shared_task(bind=True, max_retries=settings.ORDER_STEP_MAX_RETRIES)
def advance_orders(self, order_ids: list[int], status: str | None = None) -> None:
    """A batch of orders going on to the step for `status` together (the pipeline itself, the sweeper)."""
    _advance(self, order_ids=order_ids, status=status)


@shared_task(bind=True, max_retries=settings.ORDER_STEP_MAX_RETRIES)
def gather_received_orders(self) -> None:
    """The gather message: the oldest waiting new orders, a batch of them, through their first step."""
    try:
        orders_gather_received()
    except TRANSIENT_ERRORS as error:
        _retry_unless_exhausted(self, error)
        # Given up: the new orders stay received, and the sweeper re-enqueues them.


def _advance(task, *, order_ids: list[int], status: str | None) -> None:
    try:
        orders_advance(order_ids=order_ids, status=status)
    except TRANSIENT_ERRORS as error:
        _retry_unless_exhausted(task, error)
        for order_id in order_ids:
            order_fail(order_id=order_id, reason=f"technical error after {task.max_retries} retries: {error}")


def _retry_unless_exhausted(task, error: Exception) -> None:
    """Raise Retry with exponential backoff; return when the task has used its retries."""
    if task.request.retries >= task.max_retries:
        return
    countdown = get_exponential_backoff_interval(
        factor=1, retries=task.request.retries, maximum=settings.ORDER_STEP_RETRY_BACKOFF_MAX_SECONDS, full_jitter=True
    )
    raise task.retry(exc=error, countdown=countdown)


@shared_task
def sweep_stuck_orders() -> int:
    return orders_sweep()


@shared_task(bind=True, max_retries=settings.ORDER_STEP_MAX_RETRIES)
def run_import(self, import_id: int) -> None:
    """A spreadsheet import (the `imports` queue): runs a slice shorter than the task time limit, then queues the rest."""
    try:
        finished = import_run(import_id=import_id, max_seconds=settings.IMPORT_TASK_SLICE_SECONDS)
    except TRANSIENT_ERRORS as error:
        _retry_unless_exhausted(self, error)
        raise
    if not finished:
        run_import.delay(import_id)


@shared_task(bind=True, max_retries=settings.ORDER_STEP_MAX_RETRIES)
def check_import(self, import_id: int) -> None:
    """A large uploaded spreadsheet's preview (the `imports` queue)."""
    try:
        import_check(import_id=import_id)
    except TRANSIENT_ERRORS as error:
        _retry_unless_exhausted(self, error)
        raise
