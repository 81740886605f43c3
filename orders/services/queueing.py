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
    order queues behind orders already moving. Without it the message goes to
    `pipeline`, whose workers can run every step, ahead of new intake.
    """
    from orders.models import Order
    from orders.tasks import advance_order

    queue = "documents" if status == Order.Status.DOCUMENTING else "pipeline"
    priority = INTAKE_PRIORITY if status == Order.Status.RECEIVED else CONTINUE_PRIORITY
    try:
        # retry=False: one bounded attempt (the broker timeouts are in settings), not kombu's retry loop.
        advance_order.apply_async(args=[order_id], queue=queue, priority=priority, retry=False)
    except Exception:  # noqa: BLE001 — any publish failure must leave the committed order alone
        logger.warning("could not publish order %s to the broker; the sweeper will pick it up", order_id, exc_info=True)
        return False
    return True
