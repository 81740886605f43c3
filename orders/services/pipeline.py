"""The order pipeline: one step per task, each step idempotent, orders in batches.

    received → validated → approved | needs_review
    approved → provisioning → documenting → completed
    any moving state → failed (technical error after retries, see orders.tasks)

`orders_advance` runs the step for the orders' current state, for a batch of
orders at once: one short transaction with their rows locked and a few
statements for the whole batch instead of a few per order. Once the step has
committed, the orders still moving go on as one message for the next step. A
message delivered twice, a worker killed mid-step, or the sweeper
re-enqueueing an order that was moving all come down to the same thing: the
step reads the state again under the lock and does only what is left (the
ledger's and the documents' unique constraints are the second guard).

No lock is held across file or network I/O: the documenting step renders and
stores the PDFs before it locks anything, then records them and completes the
orders that are still documenting (compare-and-set under the lock); messages
are published after commit.

New orders have no message each: intake publishes one gather message per
burst (orders.services.queueing.publish_gather_unless_pending) and
`orders_gather_received` takes the new orders that wait, a batch at a time.

A batch that meets an error runs again one order at a time, so that one
order's problem (seats the ledger refuses, a bug) holds or fails that order alone.
"""

import logging
import time
from collections.abc import Callable, Mapping, Sequence

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Prefetch, prefetch_related_objects

from licensing.renewals import RenewalRefused, subscription_renew
from licensing.services import CustomerSeats, LedgerError, SeatsRequest, seats_provision_batch
from orderdesk.audit import Actor
from orderdesk.notifications.outbox import dispatch_after_commit
from orders.models import Order, OrderEvent, OrderLine, ReviewReason
from orders.rules import order_review_reasons, rules_prefetch
from orders.services.documents import StoredFile, discard_unrecorded_files, orders_quote_record, orders_quote_store
from orders.services.duplicates import orders_record_twins
from orders.services.queueing import clear_gather_pending, enqueue_orders, publish_gather_unless_pending
from orders.services.transitions import Move, TransitionNotAllowed, order_transition, orders_transition_locked

logger = logging.getLogger(__name__)

PIPELINE = Actor.system("pipeline")
Status = Order.Status
Action = OrderEvent.Action
# The database unreachable, a lock or statement timeout, a deadlock: worth a retry (see orders.tasks).
TRANSIENT_ERRORS = (OperationalError, InterfaceError)


def orders_advance(*, order_ids: Sequence[int], status: str | None = None) -> list[Order]:
    """Run the next step for each order still in `status` (in any moving state when None).

    Returns the orders the step read, as they are after it. Transient errors
    propagate (the task retries the message); any other error holds or fails
    the order it belongs to, and only that one.
    """
    try:
        return _advance_batch(order_ids=order_ids, status=status)
    except TRANSIENT_ERRORS:
        raise
    except Exception as error:
        return _advance_one_at_a_time(order_ids=order_ids, status=status, error=error)


def order_advance(*, order_id: int) -> Order | None:
    """Run the next step for one order; a no-op for states a person must move. None for an unknown order."""
    orders = orders_advance(order_ids=[order_id])
    return orders[0] if orders else Order.objects.filter(pk=order_id).first()


def orders_gather_received() -> list[Order]:
    """The gather message: run the received step on the oldest new orders no one holds, a batch of them.

    The pending key is cleared first, before the query below takes its
    snapshot. That order is what loses no new order: an order that found the
    key set (and so published nothing) committed before that, hence before
    this clearing, and the query sees it; an order that comes after finds the
    key unset and publishes a message of its own. A full batch publishes the
    next gather after commit (the orders beyond it wait too), so that another
    worker gathers the next batch while this one works; SKIP LOCKED keeps the
    two batches apart. Returns the orders the step read.
    """
    clear_gather_pending()
    gathered: list[int] = []

    def lock_waiting_orders() -> list[Order]:
        orders = _locked_waiting(status=Status.RECEIVED, limit=settings.ORDER_PIPELINE_BATCH_SIZE)
        gathered.extend(order.pk for order in orders)
        if orders:
            # Their order.received events, written at intake, go out now (intake publishes nothing for them).
            dispatch_after_commit()
        if len(orders) == settings.ORDER_PIPELINE_BATCH_SIZE:
            transaction.on_commit(publish_gather_unless_pending)
        return orders

    try:
        return _run_steps(lock_waiting_orders, stored={})
    except TRANSIENT_ERRORS:
        raise
    except Exception as error:
        if not gathered:
            raise  # the query itself failed: there are no orders to hold or fail
        return _advance_one_at_a_time(order_ids=gathered, status=Status.RECEIVED, error=error)


def _advance_batch(*, order_ids: Sequence[int], status: str | None) -> list[Order]:
    """Store the documents of orders waiting in `documenting` (no lock), then run the steps under the lock."""
    stored = _documents_stored(order_ids=order_ids, status=status)
    try:
        return _run_steps(lambda: _locked(order_ids=order_ids, status=status), stored=stored)
    finally:
        discard_unrecorded_files(stored.values())


def _run_steps(lock: Callable[[], list[Order]], *, stored: Mapping[int, StoredFile]) -> list[Order]:
    """In one transaction, run each order's step on the orders `lock` returns locked; the next step on commit."""
    with transaction.atomic():
        orders = lock()
        by_status: dict[str, list[Order]] = {}
        for order in orders:
            by_status.setdefault(order.status, []).append(order)
        for step_status, batch in by_status.items():
            if step_status == Status.DOCUMENTING:
                moved = orders_complete(orders=batch, stored=stored)
            else:
                moved = STEPS[step_status](orders=batch)
            transaction.on_commit(lambda moved=moved: _continue(moved))
        return orders


def _documents_stored(*, order_ids: Sequence[int], status: str | None) -> dict[int, StoredFile]:
    """Before any lock: render and store the quote PDFs of those orders that wait in `documenting`."""
    if status not in (None, Status.DOCUMENTING):
        return {}
    waiting = list(Order.objects.select_related("customer").filter(pk__in=order_ids, status=Status.DOCUMENTING).order_by("pk"))
    return orders_quote_store(orders=waiting) if waiting else {}


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
    query = query.filter(status=status) if status else query.filter(status__in=Order.MOVING_STATUSES)
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


# Each step below runs with its orders locked, in the step's transaction.


def orders_validate(*, orders: Sequence[Order]) -> list[Order]:
    """received → validated: run the straight-through rules and keep their reason codes on each order."""
    rules_prefetch(orders)
    moves = []
    for order in orders:
        reasons = order_review_reasons(order=order)
        summary = ", ".join(reasons) if reasons else "nothing to review"
        moves.append(Move(subject=order, reason=f"rules checked: {summary}", changes={"review_reasons": reasons}))
    validated = orders_transition_locked(
        moves=moves, allowed_from={Status.RECEIVED}, to_status=Status.VALIDATED, actor=PIPELINE, action=Action.VALIDATED
    )
    orders_record_twins(orders=orders)  # duplicate links and repeat notes, from what the rules found
    return validated


def orders_decide(*, orders: Sequence[Order]) -> list[Order]:
    """validated → approved when no rule found a reason, else needs_review for a person."""
    held = [Move(subject=order, reason=", ".join(order.review_reasons)) for order in orders if order.review_reasons]
    clear = [Move(subject=order, reason="approved straight through") for order in orders if not order.review_reasons]
    return [
        *orders_transition_locked(
            moves=held, allowed_from={Status.VALIDATED}, to_status=Status.NEEDS_REVIEW, actor=PIPELINE, action=Action.HELD
        ),
        *orders_transition_locked(
            moves=clear, allowed_from={Status.VALIDATED}, to_status=Status.APPROVED, actor=PIPELINE, action=Action.APPROVED
        ),
    ]


def orders_start_provisioning(*, orders: Sequence[Order]) -> list[Order]:
    """approved → provisioning: from here on the orders can no longer be cancelled."""
    moves = [Move(subject=order, reason="provisioning seats") for order in orders]
    return orders_transition_locked(
        moves=moves, allowed_from={Status.APPROVED}, to_status=Status.PROVISIONING, actor=PIPELINE, action=Action.PROVISIONING
    )


def orders_provision(*, orders: Sequence[Order]) -> list[Order]:
    """provisioning → documenting: one ledger entry and one license key per order line, once.

    Every line of the batch in a handful of statements; a re-run after a
    crash finds every reference recorded and adds nothing. The line of an
    accepted renewal quote renews the subscription instead (its term
    extended, its keys kept, its seats set to the line's: licensing.renewals),
    once per line as well.
    """
    prefetch_related_objects(orders, Prefetch("lines", queryset=OrderLine.objects.select_related("product")))
    from_quotes = [order for order in orders if order.quote_id]
    prefetch_related_objects(from_quotes, "quote__renews")  # no query when no order came from a quote
    renewing = {order.pk: order.quote for order in from_quotes if order.quote.renews_id}
    for order in orders:
        quote = renewing.get(order.pk)
        for line in order.lines.all():
            if quote is not None and line.product_id == quote.renews.product_id:
                _renew(order=order, line=line, quote=quote)
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
                    if not _renews(line, renewing.get(order.pk))
                ],
            )
            for order in orders
        ]
    )
    _fault_injection_delay(lines=sum(len(order.lines.all()) for order in orders))
    moves = [
        Move(
            subject=order,
            reason="seats provisioned",
            data={"ledger_references": [line.ledger_reference for line in order.lines.all()]},
        )
        for order in orders
    ]
    return orders_transition_locked(
        moves=moves, allowed_from={Status.PROVISIONING}, to_status=Status.DOCUMENTING, actor=PIPELINE, action=Action.PROVISIONED
    )


def _renews(line: OrderLine, quote) -> bool:
    return quote is not None and line.product_id == quote.renews.product_id


def _renew(*, order: Order, line: OrderLine, quote) -> None:
    """The renewal line: the quote's subscription renewed for the line's seats, unless its term moved meanwhile."""
    renews = quote.renews
    if renews.customer_id != order.customer_id:
        raise RenewalRefused(f"quote {quote.number} renews another customer's subscription")
    renewed = subscription_renew(
        subscription_id=renews.pk,
        seats=line.quantity,
        reference=line.ledger_reference,
        reason=f"order {order.number} ({order.po_number}), renewal quote {quote.number}",
        expected_term_end=quote.renews_term_end,
    )
    if renewed.created:
        logger.info("order %s renewed %s to %s", order.number, renews, renewed.renewal.term_end)


def orders_complete(*, orders: Sequence[Order], stored: Mapping[int, StoredFile]) -> list[Order]:
    """documenting → completed: record each order's quote PDF, stored before the lock, and complete the order.

    An order whose PDF is not stored yet (it reached documenting after the
    files were made) stays documenting and goes round again.
    """
    documented = orders_quote_record(orders=orders, stored=stored)
    moves = [Move(subject=order, reason="quote PDF stored") for order in orders if order.pk in documented]
    completed = orders_transition_locked(
        moves=moves, allowed_from={Status.DOCUMENTING}, to_status=Status.COMPLETED, actor=PIPELINE, action=Action.COMPLETED
    )
    return [*completed, *(order for order in orders if order.pk not in documented)]


def order_fail(*, order_id: int, reason: str) -> Order | None:
    """A moving order → failed: a technical error the retries did not cure. A person can retry it."""
    try:
        return order_transition(
            order_id=order_id,
            allowed_from=Order.MOVING_STATUSES,
            to_status=Status.FAILED,
            actor=PIPELINE,
            action=Action.FAILED,
            reason=reason[:500],
        )
    except TransitionNotAllowed as refused:
        return refused.subject
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
            action=Action.HELD,
            reason=f"{reason_code}: {detail}"[:500],
            changes={"review_reasons": [*order.review_reasons, str(reason_code)]},
        )
    except TransitionNotAllowed as refused:
        return refused.subject


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


# The steps that run entirely under the lock; documenting (orders_complete) needs its stored files too.
STEPS = {
    Status.RECEIVED: orders_validate,
    Status.VALIDATED: orders_decide,
    Status.APPROVED: orders_start_provisioning,
    Status.PROVISIONING: orders_provision,
}
