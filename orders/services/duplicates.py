"""Writes of the duplicate rule: links between suspected duplicates, notes for repeats, keeping one of a pair.

The rule itself (orders.rules.suspected_duplicate, orders.duplicates) only
reads. Once the pipeline has judged a batch, `orders_record_twins` writes what
a person needs to see: each resubmission linked both ways to the order it
repeats (Order.possible_duplicates), and each legitimate repeat noted on both
orders' timelines. `order_keep_one_of_pair` is the backlog's "keep this one,
reject that one": both decisions in one transaction.
"""

from collections.abc import Sequence

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from orders.duplicates import GONE_STATUSES, TwinKind
from orders.models import Order, OrderEvent
from orders.permissions import ActionRefused
from orders.rules import order_twins
from orders.services import review
from orderdesk.audit import Actor

PIPELINE = Actor.system("pipeline")


def orders_record_twins(*, orders: Sequence[Order]) -> None:
    """Link each order the rules found to be a resubmission to the earlier order, and note repeats on both timelines.

    Called in the pipeline's validate step, after the rules ran (their twins
    are on the orders). Two statements at most for the whole batch; a re-run
    adds no second link (the pair is unique) but the step never re-runs once
    it has committed.
    """
    through = Order.possible_duplicates.through
    links, notes = [], []
    for order in orders:
        for twin in order_twins(order):
            if twin.kind == TwinKind.RESUBMISSION:
                links.append(through(from_order_id=order.pk, to_order_id=twin.order_id))
                links.append(through(from_order_id=twin.order_id, to_order_id=order.pk))
                continue
            notes.append(
                OrderEvent.new(
                    order,
                    actor=PIPELINE,
                    action=OrderEvent.Action.NOTED,
                    reason=f"same lines as {twin.number} (PO {twin.po_number}) under another PO number: ordered again, not a duplicate",
                    data={"note": "repeat_of", "number": twin.number, "po_number": twin.po_number},
                )
            )
            earlier = Order(pk=twin.order_id, number=twin.number)
            notes.append(
                OrderEvent.new(
                    earlier,
                    actor=PIPELINE,
                    action=OrderEvent.Action.NOTED,
                    reason=f"ordered again as {order.number} (PO {order.po_number}) with the same lines",
                    data={"note": "repeated_by", "number": order.number, "po_number": order.po_number},
                )
            )
    if links:
        through.objects.bulk_create(links, ignore_conflicts=True)
    if notes:
        OrderEvent.objects.bulk_create(notes)


def order_keep_one_of_pair(*, keep: Order, reject: Order, actor: Actor, reason: str = "") -> tuple[Order, Order]:
    """Keep one order of a suspected pair and reject the other, both or neither.

    The rejected one is told why ("duplicate of O-…"). The kept one, if it
    waits for review, is approved when the duplicate suspicion was its only
    reason; otherwise the suspicion is struck from its reasons and it waits
    for a decision on the others. Each order goes through the backlog's own
    approve and reject, so their role and claim checks apply to both.
    """
    if not keep.possible_duplicates.filter(pk=reject.pk).exists():
        raise ActionRefused(_("%(keep)s and %(reject)s are not a suspected pair.") % {"keep": keep.number, "reject": reject.number})
    if keep.status in GONE_STATUSES:
        raise ActionRefused(_("%(keep)s is already %(status)s: it cannot be the one kept.") % {"keep": keep.number, "status": keep.get_status_display()})
    with transaction.atomic():
        rejected = review.order_reject(
            order=reject,
            actor=actor,
            reason=reason.strip() or f"duplicate of {keep.number}",
            confirm_last_of_pair=True,  # the kept order lives on
        )
        kept = review.order_keep_after_duplicate(order=keep, actor=actor, rejected=rejected)
    return kept, rejected
