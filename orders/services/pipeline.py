"""The order pipeline: one step per call, each step idempotent.

    received → validated → approved | needs_review
    approved → provisioning → documenting → completed
    any moving state → failed (technical error after retries, see orders.tasks)

`order_advance` runs the step for the order's current state and, once that
step has committed, enqueues the next one. A message delivered twice, a worker
killed mid-step, or the sweeper re-enqueueing an order that was moving all
come down to the same thing: the step reads the state again and does only
what is left. Every step holds the order's row lock while it works, so two
deliveries of one message run one after the other, never side by side; the
ledger's unique references are the second guard.
"""

import logging
import time

from django.conf import settings
from django.db import transaction

from licensing.services import LedgerError, SeatsRequest, seats_provision_many
from orders.models import Order, ReviewReason
from orders.rules import order_review_reasons
from orders.services.documents import order_quote_render
from orders.services.queueing import enqueue_order
from orders.services.transitions import Actor, TransitionNotAllowed, order_transition, order_transition_locked

logger = logging.getLogger(__name__)

PIPELINE = Actor.system("pipeline")
Status = Order.Status


def order_advance(*, order_id: int) -> Order | None:
    """Run the next step for the order's current state; a no-op for states a person must move.

    The step runs in one transaction under the order's row lock: a second
    delivery of the same message waits, then finds the step done and runs the
    next one (or nothing), never the same one again.
    """
    try:
        with transaction.atomic():
            order = Order.objects.select_for_update(of=("self",)).select_related("customer").filter(pk=order_id).first()
            if order is None:
                return None
            step = STEPS.get(order.status)
            return order if step is None else step(order=order)
    except LedgerError as error:
        return order_hold(order_id=order_id, reason_code=ReviewReason.PROVISIONING_REFUSED, detail=str(error))


# Each step below is called by order_advance with the order locked, in its transaction.


def order_validate(*, order: Order) -> Order:
    """received → validated: run the straight-through rules and keep their reason codes on the order."""
    reasons = order_review_reasons(order=order)
    return order_transition_locked(
        order=order,
        allowed_from={Status.RECEIVED},
        to_status=Status.VALIDATED,
        actor=PIPELINE,
        reason="rules checked: " + (", ".join(reasons) if reasons else "nothing to review"),
        changes={"review_reasons": reasons},
        on_commit=_continue,
    )


def order_decide(*, order: Order) -> Order:
    """validated → approved when no rule found a reason, else needs_review for a person."""
    if order.review_reasons:
        return order_transition_locked(
            order=order,
            allowed_from={Status.VALIDATED},
            to_status=Status.NEEDS_REVIEW,
            actor=PIPELINE,
            reason=", ".join(order.review_reasons),
        )
    return order_transition_locked(
        order=order,
        allowed_from={Status.VALIDATED},
        to_status=Status.APPROVED,
        actor=PIPELINE,
        reason="approved straight through",
        on_commit=_continue,
    )


def order_start_provisioning(*, order: Order) -> Order:
    """approved → provisioning: from here on the order can no longer be cancelled."""
    return order_transition_locked(
        order=order,
        allowed_from={Status.APPROVED},
        to_status=Status.PROVISIONING,
        actor=PIPELINE,
        reason="provisioning seats",
        on_commit=_continue,
    )


def order_provision(*, order: Order) -> Order:
    """provisioning → documenting: one ledger entry and one license key per order line, once.

    All lines in one go (a handful of statements, not a dozen per line); a
    re-run after a crash finds every reference recorded and adds nothing.
    """
    lines = list(order.lines.select_related("product"))
    reason = f"order {order.number} ({order.po_number})"
    seats_provision_many(
        customer=order.customer,
        requests=[
            SeatsRequest(product=line.product, quantity=line.quantity, reference=line.ledger_reference, reason=reason)
            for line in lines
        ],
        term_start=order.requested_start,
    )
    _fault_injection_delay(lines=len(lines))
    references = [line.ledger_reference for line in lines]
    return order_transition_locked(
        order=order,
        allowed_from={Status.PROVISIONING},
        to_status=Status.DOCUMENTING,
        actor=PIPELINE,
        reason="seats provisioned",
        data={"ledger_references": references},
        on_commit=_continue,
    )


def order_document(*, order: Order) -> Order:
    """documenting → completed: the quote PDF is rendered and stored (once)."""
    order_quote_render(order=order)
    return order_transition_locked(
        order=order,
        allowed_from={Status.DOCUMENTING},
        to_status=Status.COMPLETED,
        actor=PIPELINE,
        reason="quote PDF stored",
    )


def order_fail(*, order_id: int, reason: str) -> Order | None:
    """A moving order → failed: a technical error the retries did not cure. A person can retry it."""
    try:
        return order_transition(
            order_id=order_id, allowed_from=Order.MOVING_STATUSES, to_status=Status.FAILED, actor=PIPELINE, reason=reason[:500]
        )
    except TransitionNotAllowed as refused:
        return refused.order
    except Order.DoesNotExist:
        return None


def order_hold(*, order_id: int, reason_code: str, detail: str) -> Order:
    """A moving order → needs_review: a step met a business rule it cannot decide (never retried)."""
    order = Order.objects.get(pk=order_id)
    try:
        return order_transition(
            order_id=order_id,
            allowed_from=Order.MOVING_STATUSES,
            to_status=Status.NEEDS_REVIEW,
            actor=PIPELINE,
            reason=f"{reason_code}: {detail}"[:500],
            changes={"review_reasons": [*order.review_reasons, str(reason_code)]},
        )
    except TransitionNotAllowed as refused:
        return refused.order


def _fault_injection_delay(*, lines: int) -> None:
    # ORDERDESK_TEST_PROVISION_DELAY_MS (per line): lets the fault tests kill a
    # worker after the seats are written but before the step commits.
    delay_ms = settings.ORDERDESK_TEST_PROVISION_DELAY_MS
    if delay_ms:
        time.sleep(delay_ms * lines / 1000)


def _continue(order: Order) -> None:
    if order.status in Order.MOVING_STATUSES:
        enqueue_order(order.pk, status=order.status)


STEPS = {
    Status.RECEIVED: order_validate,
    Status.VALIDATED: order_decide,
    Status.APPROVED: order_start_provisioning,
    Status.PROVISIONING: order_provision,
    Status.DOCUMENTING: order_document,
}
