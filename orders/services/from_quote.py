"""Turning an accepted quote into an order, with the quote's prices, through the order intake.

The quote is locked, marked accepted and its order created in one
transaction: either both happen or neither. Accepting again (a retry, a
second click, the customer and sales staff at the same moment) finds the
quote accepted and returns the order made the first time; the unique
constraint on Order.quote is the last guard.
"""

from dataclasses import dataclass

from django.db import transaction

from orderdesk.audit import Actor
from orders.models import Order
from orders.services.intake import AgreedPrice, order_submit
from quotes.models import Quote
from quotes.services.workflow import quote_acceptance_refusal, quote_mark_accepted


@dataclass(frozen=True)
class QuoteAcceptance:
    order: Order
    created: bool  # False: the quote had already been accepted and this is its order


def order_from_quote(*, quote: Quote, actor: Actor, po_number=None, notes="") -> QuoteAcceptance:
    """Accept a sent, unexpired quote and create its order.

    Raises QuoteNotAcceptable, OrderInvalid (a PO number or notes the intake
    refuses) or DuplicatePoNumber. The order carries each line's unit price
    and discounted amount and the whole-quote discount, so its totals equal
    the quote's. The PO number defaults to the quote number (None). The order
    is handed to the pipeline on commit.
    """
    with transaction.atomic():
        locked = Quote.objects.select_for_update().select_related("customer").get(pk=quote.pk)
        if locked.status == Quote.Status.ACCEPTED:
            existing = Order.objects.filter(quote=locked).first()
            if existing is not None:
                return QuoteAcceptance(order=existing, created=False)
        refusal = quote_acceptance_refusal(locked)
        if refusal is not None:
            raise refusal
        lines = list(locked.lines.all())
        order = order_submit(
            customer=locked.customer,
            data={
                "po_number": locked.number if po_number is None else po_number,
                "notes": notes,
                "lines": [{"sku": line.sku, "quantity": line.quantity} for line in lines],
            },
            actor=actor,
            source=Order.Source.QUOTE,
            quote=locked,
            agreed_prices={line.sku: AgreedPrice(unit_price=line.unit_price, amount=line.amount) for line in lines},
            discount=locked.discount,
        )
        quote_mark_accepted(quote=locked, actor=actor, order_number=order.number)
    return QuoteAcceptance(order=order, created=True)
