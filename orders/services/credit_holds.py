"""Releasing orders held only for credit once a person's decision makes them fit.

When a person approves a held order of a customer, the customer's credit
picture has been looked at (its limit may have been raised to make room, say).
The customer's other orders held for credit alone are then judged again, oldest
first: each that now fits its exposure (orders.credit) is approved
automatically, recorded in its timeline with the numbers, and counts for the
ones after it. Orders held for any other reason as well keep waiting for a person.
"""

from django.db import transaction

from licensing.models import Customer
from orders.credit import credit_exposure
from orders.models import Order, OrderEvent, ReviewReason
from orders.services.queueing import enqueue_order
from orders.services.transitions import Actor, Move, orders_transition_locked

CREDIT_RECHECK = Actor.system("credit-recheck")
Status = Order.Status


def credit_holds_release(*, approved: Order, actor: Actor) -> list[Order]:
    """In the approval's transaction: approve the customer's credit-only holds that fit now. Returns them.

    The customer's row is locked first (as the pipeline's rules lock it), so a
    batch judging the customer's new orders waits for this and counts what it
    releases. Held orders another person is acting on at this moment (their
    rows locked) are skipped, not waited for.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("credit_holds_release runs inside the approval's transaction")
    customer = Customer.objects.select_for_update(no_key=True).get(pk=approved.customer_id)
    held = [
        order
        for order in Order.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(customer=customer, status=Status.NEEDS_REVIEW)
        .exclude(pk=approved.pk)
        .order_by("created_at", "pk")
        if order.review_reasons == [ReviewReason.OVER_CREDIT_LIMIT]
    ]
    if not held:
        return []
    exposure = credit_exposure(customer=customer)
    released = []
    for order in held:
        judged = exposure.with_order(order)
        if not judged.fits:
            continue  # a smaller order after it may still fit
        move = Move(
            subject=order,
            reason=(
                f"released: the credit limit holds it after {approved.number} was approved by {actor.label} "
                f"(exposure ¥{judged.total:,} of ¥{judged.limit:,})"
            ),
            data={
                "note": "credit_release",
                "after": approved.number,
                "by": actor.label,
                "exposure": judged.total,
                "committed": judged.committed,
                "unpaid": judged.unpaid,
                "limit": judged.limit,
            },
            changes={"claimed_by": None, "claimed_at": None},
        )
        orders_transition_locked(
            moves=[move], allowed_from={Status.NEEDS_REVIEW}, to_status=Status.APPROVED, actor=CREDIT_RECHECK, action=OrderEvent.Action.APPROVED
        )
        transaction.on_commit(lambda released_order=order: enqueue_order(released_order.pk, status=released_order.status))
        exposure = exposure.plus_committed(order.total)
        released.append(order)
    return released
