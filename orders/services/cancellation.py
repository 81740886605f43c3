from orders.models import Order, OrderEvent
from orders.services.transitions import Actor, TransitionNotAllowed, order_transition


def order_is_cancellable(order: Order) -> bool:
    """Not yet provisioning. A failed order counts only if it failed before provisioning
    started: once seats may be in the ledger, cancelling would leave them there."""
    if order.status not in Order.CANCELLABLE_STATUSES:
        return False
    if order.status == Order.Status.FAILED:
        return not OrderEvent.objects.filter(
            order=order, to_status__in=[Order.Status.PROVISIONING, Order.Status.DOCUMENTING]
        ).exists()
    return True


def order_cancel(*, order: Order, actor: Actor, reason: str = "") -> Order:
    """Cancel an order that has not started provisioning; raises TransitionNotAllowed otherwise.

    Cancelling an already cancelled order is a no-op, so a retried request gets the same answer.
    """
    if order.status == Order.Status.CANCELLED:
        return order
    if not order_is_cancellable(order):
        raise TransitionNotAllowed(order, Order.Status.CANCELLED)
    return order_transition(
        order_id=order.pk,
        allowed_from=Order.CANCELLABLE_STATUSES,
        to_status=Order.Status.CANCELLED,
        actor=actor,
        action=OrderEvent.Action.CANCELLED,
        reason=reason or "cancelled",
    )
