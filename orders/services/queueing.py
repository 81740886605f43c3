"""Handing orders to the Celery pipeline without ever failing the caller.

The database is the record of what is left to do; the broker is only a
doorbell. If publishing fails (broker down, network slow), the order waits in
its state and the sweeper re-enqueues it. So a publish error is logged and
swallowed here: raising it from an on_commit callback would turn an already
committed order into a 500 and make the customer retry into a duplicate.
"""

import logging

logger = logging.getLogger(__name__)

# On Redis, kombu pops priority 0 before 9. New orders go in at the back
# (INTAKE); the next step of an order already in the pipeline goes first. In a
# surge orders then complete steadily from the first minute, instead of all
# thousands moving one step at a time and completing together at the end.
CONTINUE_PRIORITY = 0
INTAKE_PRIORITY = 9


def enqueue_order(order_id: int, *, status: str | None = None) -> bool:
    """Ask a worker to move the order on. Returns False (and logs) when the broker is unreachable.

    `status`, when the caller knows it, routes the step: rendering documents
    goes to the `documents` queue so a surge of PDFs cannot hold up the
    pipeline's quick steps (and the other way round), and a new (received)
    order queues behind orders already moving, and gathers other new orders
    into its step. Without it the message goes to `pipeline`, whose workers
    can run every step, ahead of new intake.
    """
    from orders.tasks import advance_order

    return _publish(advance_order, args=[order_id], kwargs={"status": status}, status=status)


def enqueue_orders(order_ids: list[int], *, status: str) -> bool:
    """Ask a worker to run the step for `status` on these orders, in batches of ORDER_PIPELINE_BATCH_SIZE.

    Returns False (and logs) when the broker is unreachable.
    """
    from django.conf import settings

    from orders.tasks import advance_orders

    size = settings.ORDER_PIPELINE_BATCH_SIZE
    return all(
        _publish(advance_orders, args=[order_ids[start : start + size]], kwargs={"status": status}, status=status)
        for start in range(0, len(order_ids), size)
    )


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
