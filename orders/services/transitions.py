"""The one shape every order status change takes.

guard the current state → atomic → lock the row → save(update_fields) →
OrderEvent → side effects on commit. Re-running a transition that already
happened is harmless: the guard sees the new state and nothing is written.
"""

from collections.abc import Callable, Iterable, Sequence
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
    event = new_event(order=order, actor=actor, from_status=from_status, to_status=to_status, reason=reason, data=data)
    insert_instances([event])  # one statement, without the ORM's cost: every order records several
    return event


def new_event(*, order: Order, actor: Actor, from_status: str = "", to_status: str = "", reason: str = "", data=None) -> OrderEvent:
    """A timeline entry for the order, not saved yet."""
    return OrderEvent(
        order=order,
        actor=actor.user,
        actor_label=actor.label,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        data=data or {},
    )


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

    A staff action or a quote's acceptance locks the order, does its work
    under that lock and then moves it on, without selecting the row a second
    time. The same write as a batch of one (orders_transition_locked).
    """
    orders_transition_locked(
        moves=[Move(order=order, reason=reason, changes=changes or {}, data=data)],
        allowed_from=allowed_from,
        to_status=to_status,
        actor=actor,
    )
    if on_commit is not None:
        transaction.on_commit(lambda: on_commit(order))
    return order


@dataclass(frozen=True)
class Move:
    """One order of a batch transition, with what is particular to it."""

    order: Order
    reason: str = ""
    changes: dict = field(default_factory=dict)
    data: dict | None = None


def orders_transition_locked(
    *, moves: Sequence[Move], allowed_from: Iterable[str], to_status: str, actor: Actor
) -> list[Order]:
    """order_transition_locked for a batch of orders the caller has locked in its open transaction.

    The same shape and the same guard (all orders are checked before anything
    is written), in one UPDATE per distinct set of values and one INSERT for
    every order's event, so a batch costs a few statements, not a few per order.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("a locked transition needs the caller's transaction and row locks; use order_transition")
    allowed = frozenset(allowed_from)
    for move in moves:
        if move.order.status not in allowed:
            raise TransitionNotAllowed(move.order, to_status)
    now = timezone.now()
    events, same_values = [], {}
    for move in moves:
        order, from_status = move.order, move.order.status
        values = {"status": to_status, "status_reason": move.reason, "status_changed_at": now, **move.changes}
        for name, value in values.items():
            setattr(order, name, value)
        same_values.setdefault(repr(sorted(values.items())), (values, []))[1].append(order.pk)
        events.append(
            OrderEvent(
                order=order,
                actor=actor.user,
                actor_label=actor.label,
                from_status=from_status,
                to_status=to_status,
                reason=move.reason,
                data=move.data or {},
                created_at=now,
            )
        )
    for values, order_ids in same_values.values():
        Order.objects.filter(pk__in=order_ids).update(**values)
    OrderEvent.objects.bulk_create(events)
    return [move.order for move in moves]
