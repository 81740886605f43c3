"""Creating orders: from the API, an import, a quote or a staff member."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from django.db import IntegrityError, transaction

from licensing.models import Customer
from licensing.pricing import LineAmount, document_totals, tier_unit_price
from licensing.selectors import PricedProduct, priced_products
from orderdesk.db import insert_instances
from orderdesk.numbering import next_number
from orders.models import Order, OrderLine
from orders.services.queueing import enqueue_new_order
from orders.services.transitions import Actor, record_event


# The first entry of every order's timeline.
RECEIVED_REASON = "order received"


@dataclass(frozen=True)
class LineRequest:
    sku: str
    quantity: int
    # Set when the price was agreed elsewhere (an accepted quote); otherwise the catalog tier applies.
    unit_price: int | None = None
    amount: int | None = None


class DuplicatePoNumber(Exception):
    def __init__(self, existing: Order):
        self.existing = existing
        super().__init__(f"PO number {existing.po_number!r} was already used by order {existing.number}")


class UnknownSkus(Exception):
    def __init__(self, positions: dict[int, str]):
        self.positions = positions  # line index → SKU
        super().__init__("unknown SKU: " + ", ".join(sorted(set(positions.values()))))


def order_submit(
    *,
    customer: Customer,
    po_number: str,
    lines: Sequence[LineRequest],
    actor: Actor,
    requested_start: date | None = None,
    notes: str = "",
    source: str = Order.Source.API,
    before_commit: Callable[[Order], None] | None = None,
    discount: int = 0,
    quote=None,
) -> Order:
    """Store an order in `received` and, once committed, hand it to the pipeline.

    `before_commit` runs inside the order's transaction once the order is
    written: what it writes commits or rolls back with the order (the API
    stores its idempotent response there). `discount` is a whole-order
    discount in yen, `quote` the accepted quote the order comes from.

    Should not be called inside another transaction: the order number is drawn
    in its own short transaction so the sequence row is not locked for long.
    (orders.services.from_quote does, on purpose: the quote's acceptance and
    its order commit together.) A PO number already used is caught by the
    unique constraint rather than looked up first: that saves every order a
    query, and costs a duplicate only a gap in the order numbers.

    Every source of orders comes through here except the API's ordinary
    submission on PostgreSQL, which writes the same rows in two statements
    (orders.api.intake) and builds them with the same order_build(). Here the
    catalog is one statement, the order, its lines and its event one INSERT
    each (orderdesk.db.insert_instances), the number one UPDATE.
    """
    products = _products_for(lines)
    number = next_number("O")
    try:
        with transaction.atomic():
            order = _create_order(
                number=number,
                customer=customer,
                po_number=po_number,
                lines=lines,
                products=products,
                requested_start=requested_start,
                notes=notes,
                source=source,
                discount=discount,
                quote=quote,
            )
            record_event(order=order, actor=actor, to_status=order.status, reason=RECEIVED_REASON)
            transaction.on_commit(lambda: enqueue_new_order(order.pk))
            if before_commit is not None:
                before_commit(order)
    except IntegrityError:
        raise_if_po_number_used(customer_id=customer.pk, po_number=po_number)
        raise
    return order


def raise_if_po_number_used(*, customer_id: int, po_number: str) -> None:
    """After an IntegrityError: DuplicatePoNumber naming the order that has the PO number, if one does.

    The unique constraint unique_po_number_per_customer decides, also between
    concurrent submissions; this only names the order that won.
    """
    existing = Order.objects.filter(customer_id=customer_id, po_number=po_number).first()
    if existing is not None:
        raise DuplicatePoNumber(existing) from None


def _products_for(lines: Sequence[LineRequest]) -> dict[str, PricedProduct]:
    products = priced_products({line.sku for line in lines})
    check_skus_known(lines, products)
    return products


def check_skus_known(lines: Sequence[LineRequest], products: dict[str, PricedProduct]) -> None:
    """Raise UnknownSkus naming each line whose SKU is not in the catalog."""
    unknown = {index: line.sku for index, line in enumerate(lines) if line.sku not in products}
    if unknown:
        raise UnknownSkus(unknown)


def _create_order(**values) -> Order:
    order = order_build(**values)
    insert_instances([order])
    for line in order.prefetched_lines:
        line.order = order
    insert_instances(order.prefetched_lines)
    return order


def order_build(
    *, number, customer, po_number, lines, products, requested_start, notes, source, discount, quote
) -> Order:
    """A new order in `received` with its priced lines in `prefetched_lines`, not saved yet.

    Prices: the catalog's volume tier for the quantity unless the line
    brings an agreed price; totals and tax by licensing.pricing.
    """
    order_lines = []
    for position, line in enumerate(lines, start=1):
        product = products[line.sku]
        unit_price = line.unit_price if line.unit_price is not None else tier_unit_price(product.tiers, line.quantity)
        amount = line.amount if line.amount is not None else unit_price * line.quantity
        order_lines.append(
            OrderLine(
                position=position,
                product_id=product.id,
                sku=product.sku,
                product_name=product.name_ja,
                unit=product.unit,
                quantity=line.quantity,
                unit_price=unit_price,
                amount=amount,
                tax_rate=product.tax_rate,
            )
        )
    totals = document_totals([LineAmount(amount=l.amount, tax_rate=l.tax_rate) for l in order_lines], discount=discount)
    order = Order(
        number=number,
        customer=customer,
        po_number=po_number,
        requested_start=requested_start,
        notes=notes,
        source=source,
        quote=quote,
        discount=totals.discount,
        subtotal=totals.subtotal,
        tax=totals.tax,
        total=totals.total,
    )
    order.prefetched_lines = order_lines
    return order
