"""Handing orders to the Celery pipeline without ever failing the caller.

The database is the record of what is left to do; a message only says "look".
If publishing fails (broker down, network slow), the order waits in
its state and the sweeper re-enqueues it. So a publish error is logged and
swallowed here: raising it from an on_commit callback would turn an already
committed order into a 500 and make the customer retry into a duplicate.

New orders have no message each (`enqueue_new_order`): one
`gather_received_orders` message takes the new orders that wait, a batch at a
time, so intake publishes one message per burst of orders instead of one per
order. A de-duplication key in the shared cache says a gather message is
pending; while it is set, further new orders publish nothing. Why that loses
no order is in `publish_gather_unless_pending` and
`orders.services.pipeline.orders_gather_received`.
"""

import logging

from django.conf import settings
from django.core.cache import BaseCache, caches
from django.core.cache.backends.filebased import FileBasedCache
from django.core.cache.backends.redis import RedisCache

from orderdesk.cache import add_flag

logger = logging.getLogger(__name__)

# On Redis, kombu pops priority 0 before 9. New orders go in at the back
# (INTAKE); the next step of an order already in the pipeline goes first. In a
# surge orders then complete steadily from the first minute, instead of all
# thousands moving one step at a time and completing together at the end.
CONTINUE_PRIORITY = 0
INTAKE_PRIORITY = 9

GATHER_PENDING_KEY = "orders:gather-pending"


def enqueue_order(order_id: int, *, status: str | None = None) -> bool:
    """Ask a worker to move the order on. Returns False (and logs) when the broker is unreachable.

    `status`, when the caller knows it, routes the step: rendering documents
    goes to the `documents` queue so a surge of PDFs cannot hold up the
    pipeline's quick steps (and the other way round), and a received order
    queues behind orders already moving. Without it the message goes to
    `pipeline`, whose workers can run every step, ahead of new intake.
    New orders from intake go through `enqueue_new_order` instead.
    """
    from orders.tasks import advance_order

    return _publish(advance_order, args=[order_id], kwargs={"status": status}, status=status)


def enqueue_orders(order_ids: list[int], *, status: str) -> bool:
    """Ask a worker to run the step for `status` on these orders, in batches of ORDER_PIPELINE_BATCH_SIZE.

    Returns False (and logs) when the broker is unreachable.
    """
    from orders.tasks import advance_orders

    size = settings.ORDER_PIPELINE_BATCH_SIZE
    return all(
        _publish(advance_orders, args=[order_ids[start : start + size]], kwargs={"status": status}, status=status)
        for start in range(0, len(order_ids), size)
    )


def enqueue_new_order(order_id: int) -> bool:
    """A new (received) order has committed: see that a gather message will find it.

    Called after commit for every new order. Publishes only when no gather
    message is pending already (see `publish_gather_unless_pending`). Returns False
    (and logs) when the broker is unreachable: the next new order rings
    again, and the sweeper re-enqueues the order if none comes.
    """
    if publish_gather_unless_pending():
        return True
    logger.warning("new order %s waits for the next new order or the sweeper", order_id)
    return False


def publish_gather_unless_pending() -> bool:
    """Publish a `gather_received_orders` message unless one is pending. False when the publish failed.

    The pending key is a cache key added with a timeout (ORDER_GATHER_DEDUP_SECONDS);
    only the caller whose add succeeds publishes. A caller whose add fails
    committed its order before the add, and the add failed because the key
    was set: the pending message deletes the key before it looks for new
    orders (`clear_gather_pending`), so it finds that order. A lost message
    leaves the key set until it expires; the next new order then publishes
    again, and the sweeper covers an order after which none comes.

    The key needs a cache that the web processes and the workers share
    (Redis, or the embedded mode's file cache, whose add is not atomic: at
    worst two callers both publish). With a per-process cache (locmem), or
    ORDER_GATHER_DEDUP_SECONDS=0, every call publishes.
    """
    cache = _gather_pending_cache()
    if cache is not None:
        try:
            if not add_flag(GATHER_PENDING_KEY, timeout=settings.ORDER_GATHER_DEDUP_SECONDS, cache=cache):
                return True  # a gather message is pending: it will find the caller's order
        except Exception:  # noqa: BLE001 — a cache problem must not stop the order: publish without the key
            logger.warning("could not set the gather-pending key; publishing anyway", exc_info=True)
    if _publish_gather():
        return True
    clear_gather_pending()  # nothing is pending after all: the next new order must publish
    return False


def clear_gather_pending() -> None:
    """Delete the pending key, so that the next new order publishes a gather message again. Never raises."""
    cache = _gather_pending_cache()
    if cache is None:
        return
    try:
        cache.delete(GATHER_PENDING_KEY)
    except Exception:  # noqa: BLE001 — the key then expires on its own
        logger.warning("could not delete the gather-pending key; it expires on its own", exc_info=True)


def _gather_pending_cache() -> BaseCache | None:
    """The default cache when every process sees the same one and de-duplication is on, else None."""
    cache = caches["default"]
    if settings.ORDER_GATHER_DEDUP_SECONDS and isinstance(cache, (RedisCache, FileBasedCache)):
        return cache
    return None


def _publish_gather() -> bool:
    from orders.models import Order
    from orders.tasks import gather_received_orders

    return _publish(gather_received_orders, args=[], kwargs={}, status=Order.Status.RECEIVED)


def _publish(task, *, args: list, kwargs: dict, status: str | None) -> bool:
    from orders.models import Order

    queue = "documents" if status == Order.Status.DOCUMENTING else "pipeline"
    priority = INTAKE_PRIORITY if status == Order.Status.RECEIVED else CONTINUE_PRIORITY
    try:
        # retry=False: one bounded attempt (the broker timeouts are in settings), not kombu's retry loop.
        task.apply_async(args=args, kwargs=kwargs, queue=queue, priority=priority, retry=False)
    except Exception:  # noqa: BLE001 — any publish failure must leave the committed order alone
        logger.warning("could not publish %s%s to the broker; the sweeper will pick it up", task.name, args, exc_info=True)
        return False
    return True
