from orders.models import Order
from orders.services.transitions import Actor, order_transition


def order_cancel(*, order: Order, actor: Actor, reason: str = "") -> Order:
    """Cancel an order that has not started provisioning; raises TransitionNotAllowed otherwise.

    Cancelling an already cancelled order is a no-op, so a retried request gets the same answer.
    """
    if order.status == Order.Status.CANCELLED:
        return order
    return order_transition(
        order_id=order.pk,
        allowed_from=Order.CANCELLABLE_STATUSES,
        to_status=Order.Status.CANCELLED,
        actor=actor,
        reason=reason or "cancelled",
    )
