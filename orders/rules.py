"""Straight-through rules: which orders a person must look at before they are approved.

Each rule is a plain function of the order that returns the reason codes it
finds (an empty list when it has nothing to say). `order_review_reasons` runs
them all; an order with no reasons is approved by the pipeline without anyone
touching it. Thresholds are settings, read when the rule runs.

The rules read the database through the loaders below (`_lines`,
`_credit`, …). The pipeline checks orders in batches: `rules_prefetch`
reads what the loaders would read for a whole batch in a constant number of
queries and leaves it on each order, and the rules then run as they would for
one order. In a batch, an order the rules clear counts in the credit exposure
of the customer's orders after it, as it will once approved.
"""

from collections import defaultdict
from collections.abc import Callable, Sequence

from django.conf import settings
from django.db.models import prefetch_related_objects

from licensing.models import Customer
from licensing.selectors import AddonExcess, FamilyOf, addon_excess, seats_and_families_for_customers
from orders.credit import CreditExposure, credit_exposure, credit_exposures
from orders.duplicates import Twin, TwinKind, twins_lookup
from orders.models import Order, OrderLine, ReviewReason


def _lines(order: Order) -> list[OrderLine]:
    # The rules all read the lines; load them with their products once per order.
    cached = getattr(order, "_rule_lines", None)
    if cached is None:
        cached = list(order.lines.select_related("product"))
        order._rule_lines = cached
    return cached


def _credit(order: Order) -> CreditExposure:
    """The customer's exposure with this order judged (orders.credit), plus what the batch cleared before it."""
    prefetched = getattr(order, "_rule_credit", None)
    if prefetched is None:
        return credit_exposure(customer=order.customer, order=order)
    exposures, cleared = prefetched
    return exposures[order.customer_id].plus_committed(cleared[order.customer_id]).with_order(order)


def _seats(order: Order) -> tuple[dict[int, int], dict[int, FamilyOf]]:
    """The customer's current seats by product id, and the family of those products and of the order's own."""
    prefetched = getattr(order, "_rule_seats", None)
    if prefetched is None:
        seats, families = seats_and_families_for_customers(customer_ids=[order.customer_id])
        prefetched = order._rule_seats = (seats.get(order.customer_id, {}), families)
    seats, families = prefetched
    return seats, {**families, **{line.product_id: FamilyOf.of(line.product) for line in _lines(order)}}


def order_twins(order: Order) -> list[Twin]:
    """Earlier orders with the same lines (orders.duplicates), each a resubmission or a repeat."""
    prefetched = getattr(order, "_rule_twins", None)
    if prefetched is None:
        prefetched = twins_lookup([order], lines_of=_lines)(order)
        order._rule_twins = prefetched
    return prefetched


def rules_prefetch(orders: Sequence[Order]) -> None:
    """Fill the rules' loaders for a batch of orders (with their customers loaded): 6 queries, 7 with quotes.

    Gives each order what the loaders would read for it alone: its lines, its
    customer's credit exposure, seats (with their products' families) and
    earlier twins. Locks the batch's customers first (FOR NO KEY UPDATE, in id
    order, until the step commits; an order's insert does not wait for it):
    two batches holding orders of one customer judge its credit one after the
    other, so they cannot both spend the same room under its limit.
    """
    if not orders:
        return
    customer_ids = sorted({order.customer_id for order in orders})
    list(Customer.objects.select_for_update(no_key=True).filter(pk__in=customer_ids).order_by("pk").values_list("pk"))
    lines = defaultdict(list)
    for line in OrderLine.objects.filter(order_id__in=[order.pk for order in orders]).select_related("product"):
        lines[line.order_id].append(line)
    for order in orders:
        order._rule_lines = sorted(lines[order.pk], key=lambda line: line.position)
    exposures = credit_exposures(customers={order.customer_id: order.customer for order in orders}.values())
    cleared: dict[int, int] = defaultdict(int)
    seats, families = seats_and_families_for_customers(customer_ids=customer_ids)
    twins = twins_lookup(orders, lines_of=_lines)
    for order in orders:
        order._rule_credit = (exposures, cleared)
        order._rule_seats = (seats.get(order.customer_id, {}), families)
        order._rule_twins = twins(order)
    prefetch_related_objects([order for order in orders if order.quote_id is not None], "quote__lines", "quote__renews")


def unknown_or_inactive_sku(order: Order) -> list[str]:
    """A line whose product has since left the catalog (SKU changed) or is no longer sold."""
    reasons = []
    for line in _lines(order):
        if line.product.sku != line.sku:
            reasons.append(ReviewReason.UNKNOWN_SKU)
        elif not line.product.is_active:
            reasons.append(ReviewReason.INACTIVE_SKU)
    return reasons


def quantity_over_cap(order: Order) -> list[str]:
    cap = settings.ORDER_REVIEW_MAX_QUANTITY
    return [ReviewReason.QUANTITY_OVER_CAP] if any(line.quantity > cap for line in _lines(order)) else []


def over_credit_limit(order: Order) -> list[str]:
    """The customer's credit exposure (orders.credit), this order included, exceeds its credit limit."""
    return [] if _credit(order).fits else [ReviewReason.OVER_CREDIT_LIMIT]


def addon_seats_over_base(order: Order) -> list[AddonExcess]:
    """The add-on families this order would take over their base family's seats (licensing.selectors.addon_excess)."""
    added: dict[int, int] = defaultdict(int)
    seats, families = _seats(order)
    renewed_product = _renewed_product_id(order)
    for line in _lines(order):
        # A renewal line sets the subscription's seats to its quantity (licensing.renewals): it adds only the difference.
        renewed = seats.get(line.product_id, 0) if line.product_id == renewed_product else 0
        added[line.product_id] += line.quantity - renewed
    return addon_excess(seats=seats, added=added, families=families)


def _renewed_product_id(order: Order) -> int | None:
    """The product whose subscription an order from a renewal quote renews; None for every other order."""
    if order.quote_id is None:
        return None
    renews = order.quote.renews
    return renews.product_id if renews is not None else None


def addon_exceeds_base(order: Order) -> list[str]:
    """After this order, the customer would hold more add-on seats than base seats of the family they run on."""
    return [ReviewReason.ADDON_EXCEEDS_BASE] if addon_seats_over_base(order) else []


def suspected_duplicate(order: Order) -> list[str]:
    """An earlier order with the same lines is a resubmission of this one (orders.duplicates)."""
    resubmitted = any(twin.kind == TwinKind.RESUBMISSION for twin in order_twins(order))
    return [ReviewReason.SUSPECTED_DUPLICATE] if resubmitted else []


def price_differs_from_quote(order: Order) -> list[str]:
    """An order made from an accepted quote must carry the quote's prices.

    Applies only to orders linked to a quote (`order.quote`, added with the
    quote workflow); every other order is priced from the catalog at submission.
    """
    quote = getattr(order, "quote", None)
    if quote is None:
        return []
    quoted = {line.sku: (line.unit_price, line.amount) for line in quote.lines.all()}
    for line in _lines(order):
        if quoted.get(line.sku) != (line.unit_price, line.amount):
            return [ReviewReason.PRICE_DIFFERS_FROM_QUOTE]
    return [ReviewReason.PRICE_DIFFERS_FROM_QUOTE] if len(quoted) != len(_lines(order)) else []


def manual_approval(order: Order) -> list[str]:
    return [ReviewReason.MANUAL_APPROVAL] if order.customer.manual_approval else []


RULES: tuple[Callable[[Order], list[str]], ...] = (
    unknown_or_inactive_sku,
    quantity_over_cap,
    over_credit_limit,
    addon_exceeds_base,
    suspected_duplicate,
    price_differs_from_quote,
    manual_approval,
)


def order_review_reasons(*, order: Order) -> list[str]:
    """Every reason code the rules find for the order, each once, in rule order."""
    reasons: list[str] = []
    for rule in RULES:
        for reason in rule(order):
            if reason not in reasons:
                reasons.append(str(reason))
    prefetched = getattr(order, "_rule_credit", None)
    if prefetched is not None and not reasons:
        _exposures, cleared = prefetched
        cleared[order.customer_id] += order.total  # approved at the next step: it counts for the batch's later orders
    return reasons
