"""The order pipeline: one step per task, each step idempotent, orders in batches.

    received → validated → approved | needs_review
    approved → provisioning → documenting → completed
    any moving state → failed (technical error after retries, see orders.tasks)

`orders_advance` runs the step for the orders' current state, for a batch of
orders at once: one transaction with their rows locked, a few statements for
the whole batch instead of a few per order. Once the step has committed, the
orders still moving go on as one message for the next step. A message
delivered twice, a worker killed mid-step, or the sweeper re-enqueueing an
order that was moving all come down to the same thing: the step reads the
state again and does only what is left. A step holds its orders' row locks
while it works, so two deliveries of one message run one after the other,
never side by side; the ledger's unique references are the second guard.

New orders have no message each: intake rings a doorbell
(orders.services.queueing.ring_gather_doorbell) and `orders_gather_received`
takes the new orders that wait, a batch at a time, so in a surge the first
step runs in batches too, with one message per batch.

A batch that meets an error runs again one order at a time, so that one
order's problem (seats the ledger refuses, a bug) holds or fails that order alone.
"""

import logging
import time
from collections.abc import Callable, Sequence

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Prefetch, prefetch_related_objects

from licensing.services import CustomerSeats, LedgerError, SeatsRequest, seats_provision_batch
from orders.models import Order, OrderLine, ReviewReason
from orders.rules import order_review_reasons, rules_prefetch
from orders.services.documents import orders_quote_render
from orders.services.duplicates import orders_record_twins
from orders.services.queueing import enqueue_orders, release_gather_doorbell, ring_gather_doorbell
from orders.services.transitions import Actor, Move, TransitionNotAllowed, order_transition, orders_transition_locked

logger = logging.getLogger(__name__)

PIPELINE = Actor.system("pipeline")
Status = Order.Status
# The database unreachable, a lock or statement timeout, a deadlock: worth a retry (see orders.tasks).
TRANSIENT_ERRORS = (OperationalError, InterfaceError)


def orders_advance(*, order_ids: Sequence[int], status: str | None = None) -> list[Order]:
    """Run the next step for each order still in `status` (in any moving state when None).

    Returns the orders the step read, as they are after it. Transient errors
    propagate (the task retries the message); any other error holds or fails
    the order it belongs to, and only that one.
    """
    try:
        return _advance_batch(lambda: _locked(order_ids=order_ids, status=status))
    except TRANSIENT_ERRORS:
        raise
    except Exception as error:
        return _advance_one_at_a_time(order_ids=order_ids, status=status, error=error)


def order_advance(*, order_id: int) -> Order | None:
    """Run the next step for one order; a no-op for states a person must move. None for an unknown order."""
    orders = orders_advance(order_ids=[order_id])
    return orders[0] if orders else Order.objects.filter(pk=order_id).first()


def orders_gather_received() -> list[Order]:
    """The doorbell's message: run the received step on the oldest new orders no one holds, a batch of them.

    The bell is released first, before the query below takes its snapshot.
    That order is what loses no new order: an order that rang while the bell
    was set (and so published nothing) committed before ringing, hence before
    this release, and the query sees it; an order that rings after the
    release finds the bell unset and publishes a message of its own. A full
    batch rings again at once (the orders beyond it wait too), so that
    another worker gathers the next batch while this one works; SKIP LOCKED
    keeps the two batches apart. Returns the orders the step read.
    """
    release_gather_doorbell()
    gathered: list[int] = []

    def lock_waiting_orders() -> list[Order]:
        orders = _locked_waiting(status=Status.RECEIVED, limit=settings.ORDER_PIPELINE_BATCH_SIZE)
        gathered.extend(order.pk for order in orders)
        if len(orders) == settings.ORDER_PIPELINE_BATCH_SIZE:
            ring_gather_doorbell()
        return orders

    try:
        return _advance_batch(lock_waiting_orders)
    except TRANSIENT_ERRORS:
        raise
    except Exception as error:
        if not gathered:
            raise  # the query itself failed: there are no orders to hold or fail
        return _advance_one_at_a_time(order_ids=gathered, status=Status.RECEIVED, error=error)


def _advance_batch(lock: Callable[[], list[Order]]) -> list[Order]:
    """In one transaction, run each order's step on the orders `lock` returns locked; the next step on commit."""
    with transaction.atomic():
        orders = lock()
        by_status: dict[str, list[Order]] = {}
        for order in orders:
            by_status.setdefault(order.status, []).append(order)
        for step_status, batch in by_status.items():
            moved = STEPS[step_status](orders=batch)
            transaction.on_commit(lambda moved=moved: _continue(moved))
        return orders


def _advance_one_at_a_time(*, order_ids: Sequence[int], status: str | None, error: Exception) -> list[Order]:
    """After a batch met `error`: each order runs again on its own, so that only the one at fault stops."""
    if len(order_ids) == 1:
        stopped = _order_stopped(order_id=order_ids[0], error=error)
        return [stopped] if stopped is not None else []
    logger.warning("a pipeline batch of %d orders failed; running them one at a time", len(order_ids), exc_info=error)
    return [order for order_id in order_ids for order in orders_advance(order_ids=[order_id], status=status)]


def _locked(*, order_ids: Sequence[int], status: str | None) -> list[Order]:
    """The orders still in `status` (any moving state when None), locked; waits for a lock another step holds.

    A second delivery of a message so runs after the first, and finds the work done.
    """
    # In id order, so that two batches sharing orders lock them in the same order and never deadlock.
    query = Order.objects.select_for_update(of=("self",)).select_related("customer").filter(pk__in=order_ids)
    query = query.filter(status=status) if status else query.filter(status__in=STEPS)
    return list(query.order_by("pk"))


def _locked_waiting(*, status: str, limit: int) -> list[Order]:
    """Orders waiting in `status` that no other worker holds (SKIP LOCKED), oldest first."""
    query = (
        Order.objects.select_for_update(of=("self",), skip_locked=True)
        .select_related("customer")
        .filter(status=status)
        .order_by("status_changed_at", "pk")
    )
    return list(query[:limit])


def _order_stopped(*, order_id: int, error: Exception) -> Order | None:
    """A step that failed for a reason other than a transient one: hold the order for a person, or fail it."""
    if isinstance(error, LedgerError):
        return order_hold(order_id=order_id, reason_code=ReviewReason.PROVISIONING_REFUSED, detail=str(error))
    logger.error("order %s: unexpected error in the pipeline", order_id, exc_info=error)
    return order_fail(order_id=order_id, reason=f"unexpected error: {error!r}")


# Each step below is called by _advance_batch with its orders locked, in its transaction.


def orders_validate(*, orders: Sequence[Order]) -> list[Order]:
    """received → validated: run the straight-through rules and keep their reason codes on each order."""
    rules_prefetch(orders)
    moves = []
    for order in orders:
        reasons = order_review_reasons(order=order)
        summary = ", ".join(reasons) if reasons else "nothing to review"
        moves.append(Move(order=order, reason=f"rules checked: {summary}", changes={"review_reasons": reasons}))
    validated = orders_transition_locked(moves=moves, allowed_from={Status.RECEIVED}, to_status=Status.VALIDATED, actor=PIPELINE)
    orders_record_twins(orders=orders)  # duplicate links and repeat notes, from what the rules found
    return validated


def orders_decide(*, orders: Sequence[Order]) -> list[Order]:
    """validated → approved when no rule found a reason, else needs_review for a person."""
    held = [Move(order=order, reason=", ".join(order.review_reasons)) for order in orders if order.review_reasons]
    clear = [Move(order=order, reason="approved straight through") for order in orders if not order.review_reasons]
    return [
        *orders_transition_locked(moves=held, allowed_from={Status.VALIDATED}, to_status=Status.NEEDS_REVIEW, actor=PIPELINE),
        *orders_transition_locked(moves=clear, allowed_from={Status.VALIDATED}, to_status=Status.APPROVED, actor=PIPELINE),
    ]


def orders_start_provisioning(*, orders: Sequence[Order]) -> list[Order]:
    """approved → provisioning: from here on the orders can no longer be cancelled."""
    moves = [Move(order=order, reason="provisioning seats") for order in orders]
    return orders_transition_locked(moves=moves, allowed_from={Status.APPROVED}, to_status=Status.PROVISIONING, actor=PIPELINE)


def orders_provision(*, orders: Sequence[Order]) -> list[Order]:
    """provisioning → documenting: one ledger entry and one license key per order line, once.

    Every line of the batch in a handful of statements; a re-run after a
    crash finds every reference recorded and adds nothing.
    """
    prefetch_related_objects(orders, Prefetch("lines", queryset=OrderLine.objects.select_related("product")))
    seats_provision_batch(
        [
            CustomerSeats(
                customer=order.customer,
                term_start=order.requested_start,
                requests=[
                    SeatsRequest(
                        product=line.product,
                        quantity=line.quantity,
                        reference=line.ledger_reference,
                        reason=f"order {order.number} ({order.po_number})",
                    )
                    for line in order.lines.all()
                ],
            )
            for order in orders
        ]
    )
    _fault_injection_delay(lines=sum(len(order.lines.all()) for order in orders))
    moves = [
        Move(order=order, reason="seats provisioned", data={"ledger_references": [line.ledger_reference for line in order.lines.all()]})
        for order in orders
    ]
    return orders_transition_locked(moves=moves, allowed_from={Status.PROVISIONING}, to_status=Status.DOCUMENTING, actor=PIPELINE)


def orders_document(*, orders: Sequence[Order]) -> list[Order]:
    """documenting → completed: each order's quote PDF is rendered and stored (once)."""
    orders_quote_render(orders=orders)
    moves = [Move(order=order, reason="quote PDF stored") for order in orders]
    return orders_transition_locked(moves=moves, allowed_from={Status.DOCUMENTING}, to_status=Status.COMPLETED, actor=PIPELINE)


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


def _continue(orders: Sequence[Order]) -> None:
    """Hand the orders still moving to the next step: one message per next state."""
    by_status: dict[str, list[int]] = {}
    for order in orders:
        if order.status in Order.MOVING_STATUSES:
            by_status.setdefault(order.status, []).append(order.pk)
    for status, order_ids in by_status.items():
        enqueue_orders(order_ids, status=status)


STEPS = {
    Status.RECEIVED: orders_validate,
    Status.VALIDATED: orders_decide,
    Status.APPROVED: orders_start_provisioning,
    Status.PROVISIONING: orders_provision,
    Status.DOCUMENTING: orders_document,
}
