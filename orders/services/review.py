"""What staff do with a backlog order: approve, reject, edit its lines, retry, cancel.

Each action has the one shape: guard → atomic → lock the row → check again
under the lock (role, claim, state) → save(update_fields) → OrderEvent →
enqueue on commit. Status changes go through `order_transition`, so the
pipeline picks an approved or retried order up exactly as it would its own.
"""

from collections.abc import Mapping

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from licensing.models import Product
from licensing.pricing import Coterm, PricingError, product_unit_price, prorated_unit_price
from orders.backlog import is_in_backlog
from orders.duplicates import ensure_not_last_of_pair
from orders.models import REASONS_APPROVED_WITHOUT_OVERRIDE, Order, OrderEvent, OrderLine, ReviewReason
from orders.totals import order_totals
from orders.permissions import ActionRefused, ensure_may_handle
from orders.rules import order_review_reasons
from orders.services.cancellation import order_cancel, order_is_cancellable
from orders.services.claims import ensure_not_claimed_by_other
from orders.services.credit_holds import credit_holds_release
from orders.services.queueing import enqueue_order
from orders.services.transitions import Actor, order_transition, record_event

Status = Order.Status
RELEASE_CLAIM = {"claimed_by": None, "claimed_at": None}
# Set by the pipeline, not by the rules: an edit that re-runs the rules keeps it.
REASONS_THE_RULES_DO_NOT_SET = frozenset({ReviewReason.PROVISIONING_REFUSED})
# A failed order resumes where it failed once a person approved it; earlier failures start over.
RESUMABLE_STATUSES = frozenset({Status.APPROVED, Status.PROVISIONING, Status.DOCUMENTING})


def approval_needs_reason(order: Order) -> bool:
    return bool(set(order.review_reasons or []) - REASONS_APPROVED_WITHOUT_OVERRIDE)


def _enqueue(order: Order) -> None:
    enqueue_order(order.pk, status=order.status)


def _lock_for(order: Order, actor: Actor) -> Order:
    """Lock the order and check, on the fresh row, that this actor may act on it now."""
    order = Order.objects.select_for_update(of=("self",)).select_related("customer", "claimed_by").get(pk=order.pk)
    if actor.user is not None:
        ensure_may_handle(actor.user, order)
        ensure_not_claimed_by_other(order, actor.user)
    return order


def _refuse_status(order: Order, expected) -> None:
    raise ActionRefused(
        _("Order %(number)s is %(status)s; %(expected)s")
        % {"number": order.number, "status": order.get_status_display(), "expected": expected}
    )


def order_approve(*, order: Order, actor: Actor, override_reason: str = "") -> Order:
    """needs_review → approved; the pipeline provisions it. Overriding a rule needs a reason."""
    override_reason = override_reason.strip()
    with transaction.atomic():
        order = _lock_for(order, actor)
        if order.status != Status.NEEDS_REVIEW:
            _refuse_status(order, _("only orders waiting for review can be approved."))
        if approval_needs_reason(order) and not override_reason:
            raise ActionRefused(_("Approving over %(reasons)s overrides a rule: give a reason.") % {"reasons": _reason_words(order)})
        approved = order_transition(
            order_id=order.pk,
            allowed_from={Status.NEEDS_REVIEW},
            to_status=Status.APPROVED,
            actor=actor,
            action=OrderEvent.Action.APPROVED,
            reason=override_reason or "approved",
            data={"review_reasons": order.review_reasons, "override_reason": override_reason},
            changes=RELEASE_CLAIM,
            on_commit=_enqueue,
        )
        credit_holds_release(approved=approved, actor=actor)
        return approved


def order_reject(*, order: Order, actor: Actor, reason: str, confirm_last_of_pair: bool = False) -> Order:
    """needs_review → rejected, with the reason the customer will be told.

    The last living order of a suspected duplicate pair is rejected only when
    `confirm_last_of_pair` says the person means it (orders.duplicates).
    """
    reason = reason.strip()
    if not reason:
        raise ActionRefused(_("Give a reason for the rejection."))
    with transaction.atomic():
        order = _lock_for(order, actor)
        if order.status != Status.NEEDS_REVIEW:
            _refuse_status(order, _("only orders waiting for review can be rejected."))
        ensure_not_last_of_pair(order, confirmed=confirm_last_of_pair)
        return order_transition(
            order_id=order.pk,
            allowed_from={Status.NEEDS_REVIEW},
            to_status=Status.REJECTED,
            actor=actor,
            action=OrderEvent.Action.REJECTED,
            reason=reason,
            data={"review_reasons": order.review_reasons},
            changes=RELEASE_CLAIM,
        )


def order_retry(*, order: Order, actor: Actor) -> Order:
    """A failed order goes back to the pipeline; a stuck one is handed to the broker again."""
    with transaction.atomic():
        order = _lock_for(order, actor)
        if order.status == Status.FAILED:
            resume_at = _resume_status(order)
            return order_transition(
                order_id=order.pk,
                allowed_from={Status.FAILED},
                to_status=resume_at,
                actor=actor,
                action=OrderEvent.Action.RETRIED,
                reason="retried",
                data={"resumed_at": resume_at},
                changes=RELEASE_CLAIM,
                on_commit=_enqueue,
            )
        if order.status in Order.MOVING_STATUSES and is_in_backlog(order):
            record_event(order=order, actor=actor, action=OrderEvent.Action.REQUEUED, reason="re-enqueued", data={"requeued_in": order.status})
            transaction.on_commit(lambda: _enqueue(order))
            return order
        _refuse_status(order, _("only failed or stuck orders can be retried."))


def _resume_status(order: Order) -> str:
    failed_from = (
        OrderEvent.objects.filter(order=order, to_status=Status.FAILED).order_by("-created_at", "-id").values_list("from_status", flat=True).first()
    )
    return failed_from if failed_from in RESUMABLE_STATUSES else Status.RECEIVED


def order_cancel_by_staff(*, order: Order, actor: Actor, reason: str = "") -> Order:
    """The same cancellation the customer API uses, behind the backlog's role and claim checks.

    Staff cancel only what is in the backlog: an order on its way through the
    pipeline is nobody's to stop (the customer may cancel it through the API).
    """
    with transaction.atomic():
        order = _lock_for(order, actor)
        if not is_in_backlog(order) or not order_is_cancellable(order):
            _refuse_status(order, _("only orders in the backlog that have not started provisioning can be cancelled."))
        order = order_cancel(order=order, actor=actor, reason=reason.strip() or "cancelled by staff")
        order.claimed_by = order.claimed_at = None
        order.save(update_fields=["claimed_by", "claimed_at"])
        return order


def order_edit_lines(*, order: Order, actor: Actor, changes: Mapping[str, int]) -> Order:
    """Change quantities (0 removes a line, a new SKU adds one) before approval.

    Prices come from the catalogue tiers for the new quantity, the totals and
    tax are computed again in licensing.pricing, and the rules run again so
    the reasons match the edited order. The timeline keeps old and new values.
    """
    _check_quantities(changes)
    with transaction.atomic():
        order = _lock_for(order, actor)
        if order.status != Status.NEEDS_REVIEW:
            _refuse_status(order, _("only orders waiting for review can be edited."))
        lines = {line.sku: line for line in order.lines.select_related("product").prefetch_related("product__price_tiers")}
        diffs = _apply_line_changes(order, lines, changes)
        if not diffs:
            return order
        old = {"subtotal": order.subtotal, "tax": order.tax, "total": order.total, "review_reasons": order.review_reasons}
        _recompute(order)
        record_event(
            order=order,
            actor=actor,
            action=OrderEvent.Action.EDITED,
            reason="lines edited",
            data={"lines": diffs, "before": old, "after": {name: getattr(order, name) for name in old}},
        )
        if actor.user is not None and order.claimed_by_id == actor.user.pk:
            order.claimed_at = timezone.now()
            order.save(update_fields=["claimed_at"])
    return order


def _check_quantities(changes: Mapping[str, int]) -> None:
    if not changes:
        raise ActionRefused(_("Nothing to change."))
    for sku, quantity in changes.items():
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
            raise ActionRefused(_("The quantity for %(sku)s must be a whole number of 0 or more.") % {"sku": sku})


def _apply_line_changes(order: Order, lines: dict[str, OrderLine], changes: Mapping[str, int]) -> list[dict]:
    new_skus = [sku for sku, quantity in changes.items() if sku not in lines and quantity > 0]
    products = {p.sku: p for p in Product.objects.filter(sku__in=new_skus, is_active=True).prefetch_related("price_tiers")}
    missing = sorted(set(new_skus) - set(products))
    if missing:
        raise ActionRefused(_("There is no product on sale with SKU %(skus)s.") % {"skus": ", ".join(missing)})
    remaining = {sku for sku in lines if changes.get(sku, lines[sku].quantity) > 0} | set(new_skus)
    if not remaining:
        raise ActionRefused(_("An order needs at least one line; cancel or reject it instead."))
    diffs = []
    next_position = max((line.position for line in lines.values()), default=0) + 1
    for sku, quantity in changes.items():
        line = lines.get(sku)
        if (line is None and quantity == 0) or (line is not None and line.quantity == quantity):
            continue
        if line is None:
            line = OrderLine(order=order, position=next_position, product=products[sku], sku=sku,
                             product_name=products[sku].name_ja, unit=products[sku].unit, quantity=0, unit_price=0,
                             amount=0, tax_rate=products[sku].tax_rate)  # fmt: skip
            next_position += 1
        diffs.append(_change_line(line, quantity))
    return diffs


def _change_line(line: OrderLine, quantity: int) -> dict:
    diff = {"sku": line.sku, "old_quantity": line.quantity, "new_quantity": quantity,
            "old_unit_price": line.unit_price, "old_amount": line.amount}  # fmt: skip
    if quantity == 0:
        line.delete()
        diff.update(new_unit_price=0, new_amount=0)
        return diff
    try:
        # A co-termed line keeps the months it was priced for (月割り): the tier changes, the months do not.
        joins = Coterm(months=line.coterm_months, term_months=line.product.term_months, term_end=line.coterm_until) if line.coterm_months else None
        unit_price = prorated_unit_price(product_unit_price(line.product, quantity), joins)
    except PricingError as error:
        raise ActionRefused(_("No price for %(sku)s × %(quantity)s: %(error)s") % {"sku": line.sku, "quantity": quantity, "error": error}) from None
    line.quantity, line.unit_price, line.amount = quantity, unit_price, unit_price * quantity
    line.save()
    diff.update(new_unit_price=line.unit_price, new_amount=line.amount)
    return diff


def _recompute(order: Order) -> None:
    """Totals from the lines and the order's discount (order_totals), then the rules on the edited order."""
    try:
        totals = order_totals(lines=order.lines.all(), discount=order.discount)
    except PricingError:
        raise ActionRefused(
            _("The order's discount of %(discount)s yen is more than its lines now come to; keep more seats or reject it.")
            % {"discount": f"{order.discount:,}"}
        ) from None
    order.subtotal, order.tax, order.total = totals.subtotal, totals.tax, totals.total
    order.save(update_fields=["subtotal", "tax", "total"])
    order._rule_lines = None  # the rules cache the lines they read
    kept = [code for code in order.review_reasons if code in REASONS_THE_RULES_DO_NOT_SET]
    order.review_reasons = order_review_reasons(order=order) + kept
    order.save(update_fields=["review_reasons"])


def _reason_words(order: Order) -> str:
    labels = dict(ReviewReason.choices)
    # The list separator is translated: "、" in Japanese, ", " in English.
    return str(_(", ")).join(str(labels.get(code, code)) for code in order.review_reasons if code not in REASONS_APPROVED_WITHOUT_OVERRIDE)


def order_keep_after_duplicate(*, order: Order, actor: Actor, rejected: Order) -> Order:
    """The order kept when its suspected duplicate `rejected` was rejected (orders.services.duplicates).

    Held for the suspicion alone: approved. Held for other reasons too: the
    suspicion is struck from its reasons (recorded) and it waits for a
    decision on the others. Not held: nothing to do.
    """
    with transaction.atomic():
        order = _lock_for(order, actor)
        if order.status != Status.NEEDS_REVIEW or ReviewReason.SUSPECTED_DUPLICATE not in order.review_reasons:
            return order
        if order.review_reasons == [ReviewReason.SUSPECTED_DUPLICATE]:
            return order_approve(order=order, actor=actor, override_reason=f"kept; its duplicate {rejected.number} was rejected")
        old = list(order.review_reasons)
        order.review_reasons = [code for code in old if code != ReviewReason.SUSPECTED_DUPLICATE]
        order.save(update_fields=["review_reasons"])
        record_event(
            order=order,
            actor=actor,
            action=OrderEvent.Action.NOTED,
            reason=f"kept; its duplicate {rejected.number} was rejected",
            data={"before": {"review_reasons": old}, "after": {"review_reasons": order.review_reasons}},
        )
        return order
