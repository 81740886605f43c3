"""The order pipeline: one step per call, each step idempotent."""

from orders.models import Order
from orders.services.transitions import Actor, TransitionNotAllowed, order_transition

PIPELINE = Actor.system("pipeline")


def order_advance(*, order_id: int) -> Order | None:
    """Run the next step for the order's current state; a no-op for states a person must move."""
    order = Order.objects.filter(pk=order_id).first()
    if order is None:
        return None
    if order.status == Order.Status.RECEIVED:
        return _validate(order)
    return order


def _validate(order: Order) -> Order:
    try:
        return order_transition(
            order_id=order.pk,
            allowed_from={Order.Status.RECEIVED},
            to_status=Order.Status.VALIDATED,
            actor=PIPELINE,
            reason="lines and prices checked",
        )
    except TransitionNotAllowed:
        return Order.objects.get(pk=order.pk)
