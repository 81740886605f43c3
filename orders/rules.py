"""Straight-through rules: which orders a person must look at before they are approved.

Each rule is a plain function of the order that returns the reason codes it
finds (an empty list when it has nothing to say). `order_review_reasons` runs
them all; an order with no reasons is approved by the pipeline without anyone
touching it. Thresholds are settings, read when the rule runs.
"""

from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db.models import Sum

from licensing.selectors import addon_seat_excess
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
    open_total = (
        Order.objects.filter(customer_id=order.customer_id)
        .exclude(status__in=OPEN_EXCLUDED_STATUSES)
        .aggregate(total=Sum("total"))["total"]
        or 0
    )
    if order.status in OPEN_EXCLUDED_STATUSES:
        open_total += order.total
    return [ReviewReason.OVER_CREDIT_LIMIT] if open_total > order.customer.credit_limit else []


def addon_exceeds_base(order: Order) -> list[str]:
    """After this order, a subscription would hold more add-on seats than base seats."""
    lines = _lines(order)
    additions = {line.sku: line.quantity for line in lines}
    products = [line.product for line in lines]  # loaded with their base products: no query for the catalog
    excess = addon_seat_excess(customer=order.customer, additions=additions, products=products)
    return [ReviewReason.ADDON_EXCEEDS_BASE] if excess else []


def suspected_duplicate(order: Order) -> list[str]:
    """The same customer ordered the same lines under another PO number within the window."""
    window = timedelta(hours=settings.ORDER_DUPLICATE_WINDOW_HOURS)
    # Same lines at catalog prices give the same total: a cheap, indexed first filter.
    candidates = (
        Order.objects.filter(
            customer_id=order.customer_id,
            created_at__gte=order.created_at - window,
            created_at__lte=order.created_at + window,
            total=order.total,
        )
        .exclude(pk=order.pk)
        .exclude(po_number=order.po_number)
        .exclude(status__in=DUPLICATE_EXCLUDED_STATUSES)
    )
    wanted = {(line.sku, line.quantity) for line in _lines(order)}
    found: dict[int, set] = {}
    for order_id, sku, quantity in OrderLine.objects.filter(order__in=candidates).values_list("order_id", "sku", "quantity"):
        found.setdefault(order_id, set()).add((sku, quantity))
    return [ReviewReason.SUSPECTED_DUPLICATE] if wanted in found.values() else []


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
