"""The sweeper: the database, not the broker, is the record of what is left to do.

An order accepted while the broker was down, whose message was lost in a Redis
restart, or whose worker died, still sits in a moving state. Every
ORDER_SWEEP_INTERVAL_SECONDS the sweeper re-enqueues the orders that have sat
there longer than ORDER_STUCK_AFTER_SECONDS, oldest first, at most
ORDER_SWEEP_BATCH per run, and each order at most once per that period so a
long backlog is not flooded with copies. Orders go out in batches, one
message per step and ORDER_PIPELINE_BATCH_SIZE orders. Steps tolerate running twice, so a
copy of a message that was merely slow costs one cheap no-op.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from orders.models import Order
from orders.services.queueing import enqueue_orders

logger = logging.getLogger(__name__)


def stuck_orders(*, now: datetime, limit: int) -> list[tuple[int, str]]:
    """(id, status) of orders in a moving state since before the cutoff and not swept since."""
    cutoff = now - timedelta(seconds=settings.ORDER_STUCK_AFTER_SECONDS)
    # Served by the (status, status_changed_at) index: one range scan per moving status.
    rows = (
        Order.objects.filter(status__in=Order.MOVING_STATUSES, status_changed_at__lt=cutoff)
        .filter(Q(swept_at__isnull=True) | Q(swept_at__lt=cutoff))
        .order_by("status_changed_at")
        .values_list("id", "status")[:limit]
    )
    return list(rows)


def orders_sweep(*, now: datetime | None = None) -> int:
    """Re-enqueue stuck orders; returns how many were handed to the broker."""
    now = now or timezone.now()
    by_status: dict[str, list[int]] = {}
    for order_id, status in stuck_orders(now=now, limit=settings.ORDER_SWEEP_BATCH):
        by_status.setdefault(status, []).append(order_id)
    enqueued = []
    for status, order_ids in by_status.items():
        # In batches of the pipeline's size, so that the step runs for many orders at once.
        if not enqueue_orders(order_ids, status=status):
            break  # the broker is still down: the next sweep tries again
        enqueued += order_ids
    if enqueued:
        Order.objects.filter(pk__in=enqueued).update(swept_at=now)
        logger.info("sweeper re-enqueued %d stuck orders", len(enqueued))
    return len(enqueued)
