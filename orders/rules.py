"""Straight-through rules: which orders a person must look at before they are approved.

Each rule is a plain function of the order that returns the reason codes it
finds (an empty list when it has nothing to say). `order_review_reasons` runs
them all; an order with no reasons is approved by the pipeline without anyone
touching it. Thresholds are settings, read when the rule runs.

The rules read the database through the loaders below (`_lines`,
`_open_total`, …). The pipeline checks orders in batches: `rules_prefetch`
reads what the loaders would read for a whole batch in a few queries and
leaves it on each order, and the rules then run as they would for one order.
Only the lines are kept by the loader itself: they do not change under a rule.
"""

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import timedelta

from django.conf import settings
from django.db.models import Sum, prefetch_related_objects

from licensing.selectors import addon_seat_excess, seats_by_product_for_customers
from orders.models import Order, OrderLine, ReviewReason

OPEN_EXCLUDED_STATUSES = (Order.Status.COMPLETED, Order.Status.REJECTED, Order.Status.CANCELLED)
# A cancelled or rejected order is not a duplicate anyone could receive twice.
DUPLICATE_EXCLUDED_STATUSES = (Order.Status.REJECTED, Order.Status.CANCELLED)


def _lines(order: Order) -> list[OrderLine]:
    # The rules all read the lines; load them with their products once per order.
    cached = getattr(order, "_rule_lines", None)
    if cached is None:
        cached = list(order.lines.select_related("product__base_product"))
        order._rule_lines = cached
    return cached


def _open_total(order: Order) -> int:
    """The total of the customer's open orders (not completed, rejected or cancelled)."""
    prefetched = getattr(order, "_rule_open_total", None)
    if prefetched is not None:
        return prefetched
    return (
        Order.objects.filter(customer_id=order.customer_id)
        .exclude(status__in=OPEN_EXCLUDED_STATUSES)
        .aggregate(total=Sum("total"))["total"]
        or 0
    )


def _current_seats(order: Order) -> dict[int, int] | None:
    # None: addon_seat_excess reads the customer's seats itself.
    return getattr(order, "_rule_seats", None)


def _duplicate_line_sets(order: Order) -> list[set]:
    """The (sku, quantity) sets of the orders that could be duplicates of this one."""
    prefetched = getattr(order, "_rule_duplicate_line_sets", None)
    if prefetched is not None:
        return prefetched
    return _duplicate_candidate_lines([order])(order)


def rules_prefetch(orders: Sequence[Order]) -> None:
    """Fill the rules' loaders for a batch of orders (with their customers loaded): 5 queries, 6 with quotes.

    Gives each order exactly what the loaders would read for it alone: its
    lines, its customer's open total and seats, the lines of its possible duplicates.
    """
    if not orders:
        return
    lines = defaultdict(list)
    order_ids = [order.pk for order in orders]
    for line in OrderLine.objects.filter(order_id__in=order_ids).select_related("product__base_product"):
        lines[line.order_id].append(line)
    customer_ids = {order.customer_id for order in orders}
    open_totals = dict(
        Order.objects.filter(customer_id__in=customer_ids)
        .exclude(status__in=OPEN_EXCLUDED_STATUSES)
        .order_by()
        .values_list("customer_id")
        .annotate(total=Sum("total"))
    )
    seats = seats_by_product_for_customers(customer_ids=customer_ids)
    candidate_lines = _duplicate_candidate_lines(orders)
    for order in orders:
        order._rule_lines = sorted(lines[order.pk], key=lambda line: line.position)
        order._rule_open_total = open_totals.get(order.customer_id, 0)
        order._rule_seats = seats.get(order.customer_id, {})
        order._rule_duplicate_line_sets = candidate_lines(order)
    prefetch_related_objects([order for order in orders if order.quote_id is not None], "quote__lines")


def _duplicate_candidate_lines(orders: Sequence[Order]) -> Callable[[Order], list[set]]:
    """One query for every order's duplicate candidates and one for their lines; returns the per-order lookup.

    Same customer, same total (the same lines at catalog prices give the same
    total: a cheap first filter), created within the window, another PO
    number, not rejected or cancelled.
    """
    window = timedelta(hours=settings.ORDER_DUPLICATE_WINDOW_HOURS)
    candidates = list(
        Order.objects.filter(
            customer_id__in={order.customer_id for order in orders},
            total__in={order.total for order in orders},
            created_at__gte=min(order.created_at for order in orders) - window,
            created_at__lte=max(order.created_at for order in orders) + window,
        )
        .exclude(status__in=DUPLICATE_EXCLUDED_STATUSES)
        .values_list("id", "customer_id", "po_number", "total", "created_at")
    )
    line_sets: dict[int, set] = defaultdict(set)
    rows = OrderLine.objects.filter(order_id__in=[row[0] for row in candidates]).values_list("order_id", "sku", "quantity")
    for order_id, sku, quantity in rows:
        line_sets[order_id].add((sku, quantity))

    def lookup(order: Order) -> list[set]:
        return [
            line_sets[candidate_id]
            for candidate_id, customer_id, po_number, total, created_at in candidates
            if customer_id == order.customer_id
            and total == order.total
            and candidate_id != order.pk
            and po_number != order.po_number
            and abs(created_at - order.created_at) <= window
            and candidate_id in line_sets
        ]

    return lookup


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
    """The customer's open orders (this one included) together exceed its credit limit."""
    open_total = _open_total(order)
    if order.status in OPEN_EXCLUDED_STATUSES:
        open_total += order.total
    return [ReviewReason.OVER_CREDIT_LIMIT] if open_total > order.customer.credit_limit else []


def addon_exceeds_base(order: Order) -> list[str]:
    """After this order, a subscription would hold more add-on seats than base seats."""
    lines = _lines(order)
    additions = {line.sku: line.quantity for line in lines}
    products = [line.product for line in lines]  # loaded with their base products: no query for the catalog
    excess = addon_seat_excess(customer=order.customer, additions=additions, products=products, current=_current_seats(order))
    return [ReviewReason.ADDON_EXCEEDS_BASE] if excess else []


def suspected_duplicate(order: Order) -> list[str]:
    """The same customer ordered the same lines under another PO number within the window."""
    wanted = {(line.sku, line.quantity) for line in _lines(order)}
    return [ReviewReason.SUSPECTED_DUPLICATE] if wanted in _duplicate_line_sets(order) else []


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
    return reasons
