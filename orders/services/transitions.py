"""The one shape every order status change takes.

guard the current state → atomic → lock the row → save(update_fields) →
OrderEvent → side effects on commit. Re-running a transition that already
happened is harmless: the guard sees the new state and nothing is written.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from orderdesk.db import insert_instances
from orders.models import Order, OrderEvent


class TransitionNotAllowed(Exception):
    def __init__(self, order: Order, to_status: str):
        self.order = order
        self.to_status = to_status
        super().__init__(f"order {order.number} is {order.status}; it cannot become {to_status}")


@dataclass(frozen=True)
class Actor:
    """Who or what made a change: a staff user, a customer's token, or a system process."""

    label: str
    user: object | None = None

    @classmethod
    def system(cls, name: str) -> "Actor":
        return cls(label=name)

    @classmethod
    def customer(cls, customer) -> "Actor":
        return cls(label=f"api:{customer.code}")

    @classmethod
    def staff(cls, user) -> "Actor":
        return cls(label=f"staff:{user.get_username()}", user=user)


@dataclass
class Change:
    """Extra fields a transition writes besides the status."""

    fields: dict = field(default_factory=dict)


def record_event(*, order: Order, actor: Actor, from_status: str = "", to_status: str = "", reason: str = "", data=None) -> OrderEvent:
    event = OrderEvent(
        order=order,
        actor=actor.user,
        actor_label=actor.label,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        data=data or {},
    )
    insert_instances([event])  # one statement, without the ORM's cost: every order records several
    return event


def order_transition(
    *,
    order_id: int,
    allowed_from: Iterable[str],
    to_status: str,
    actor: Actor,
    reason: str = "",
    data: dict | None = None,
    changes: dict | None = None,
    on_commit: Callable[[Order], None] | None = None,
) -> Order:
    """Move an order from one of `allowed_from` to `to_status`, or raise TransitionNotAllowed.

    `changes` are further field values saved in the same update (for example
    review_reasons); `on_commit` runs after the commit with the saved order.
    """
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        return order_transition_locked(
            order=order,
            allowed_from=allowed_from,
            to_status=to_status,
            actor=actor,
            reason=reason,
            data=data,
            changes=changes,
            on_commit=on_commit,
        )


def order_transition_locked(
    *,
    order: Order,
    allowed_from: Iterable[str],
    to_status: str,
    actor: Actor,
    reason: str = "",
    data: dict | None = None,
    changes: dict | None = None,
    on_commit: Callable[[Order], None] | None = None,
) -> Order:
    """order_transition for a caller that already holds the order's row lock in its open transaction.

    The pipeline locks the order once per step, does the step's work under
    that lock and then moves it on, without selecting the row a second time.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("order_transition_locked needs the caller's transaction and row lock; use order_transition")
    if order.status not in frozenset(allowed_from):
        raise TransitionNotAllowed(order, to_status)
    from_status = order.status
    order.status = to_status
    order.status_reason = reason
    order.status_changed_at = timezone.now()
    for name, value in (changes or {}).items():
        setattr(order, name, value)
    order.save(update_fields=["status", "status_reason", "status_changed_at", *(changes or {})])
    record_event(order=order, actor=actor, from_status=from_status, to_status=to_status, reason=reason, data=data)
    if on_commit is not None:
        transaction.on_commit(lambda: on_commit(order))
    return order
