"""Order status changes and timeline entries, in the shape every audited change takes (orderdesk.audit).

An order's status change also sets `status_reason` (what the API shows next
to the status) to the event's reason, and writes the customer's event (and
e-mail) for the statuses customers hear about, in the same transaction
(orders.services.notices).
"""

from collections.abc import Callable, Iterable, Sequence

from orderdesk.audit import Actor, Move, TransitionNotAllowed, transition, transitions_locked
from orders.models import Order, OrderEvent
from orders.services.notices import orders_notices_record

__all__ = ["Actor", "Move", "TransitionNotAllowed", "order_transition", "orders_transition_locked", "record_event"]


def record_event(*, order: Order, actor: Actor, action: str, reason: str = "", data: dict | None = None) -> OrderEvent:
    """A timeline entry that does not change the status (a claim, an edit, a re-enqueue)."""
    return OrderEvent.record(order, actor=actor, action=action, reason=reason, data=data)


def order_transition(
    *,
    order_id: int,
    allowed_from: Iterable[str],
    to_status: str,
    actor: Actor,
    action: str,
    reason: str = "",
    data: dict | None = None,
    changes: dict | None = None,
    on_commit: Callable[[Order], None] | None = None,
) -> Order:
    """Lock the order and move it from one of `allowed_from` to `to_status`, or raise TransitionNotAllowed.

    `changes` are further field values saved in the same update (for example
    review_reasons); `on_commit` runs after the commit with the saved order.
    """
    return transition(
        queryset=Order.objects.all(),
        pk=order_id,
        event_model=OrderEvent,
        allowed_from=allowed_from,
        to_status=to_status,
        actor=actor,
        action=action,
        reason=reason,
        data=data,
        changes={"status_reason": reason[:500], **(changes or {})},
        within=lambda order: orders_notices_record(orders=[order], to_status=to_status),
        on_commit=on_commit,
    )


def orders_transition_locked(
    *, moves: Sequence[Move], allowed_from: Iterable[str], to_status: str, actor: Actor, action: str
) -> list[Order]:
    """Move a batch of orders the caller has locked in its open transaction (the pipeline's steps)."""
    moves = [
        Move(subject=move.subject, reason=move.reason, changes={"status_reason": move.reason[:500], **move.changes}, data=move.data)
        for move in moves
    ]
    moved = transitions_locked(
        event_model=OrderEvent, moves=moves, allowed_from=allowed_from, to_status=to_status, actor=actor, action=action
    )
    orders_notices_record(orders=moved, to_status=to_status)
    return moved
