"""An order's amounts: the one function that computes them from its lines and discount.

Intake, quote acceptance, line edits in the backlog, the quote PDF and the
API all call `order_totals`; the stored subtotal, tax and total are what it
returned when the lines last changed. Tax is licensing.pricing's: once per
rate on the rate's subtotal, after the whole-order discount is shared out.
"""

from collections.abc import Iterable
from typing import Protocol

from licensing.pricing import LineAmount, Totals, document_totals


class PricedLine(Protocol):
    amount: int
    tax_rate: int


def order_totals(*, lines: Iterable[PricedLine], discount: int) -> Totals:
    """Subtotal, tax per rate and total of an order's lines after its whole-order discount (yen)."""
    return document_totals([LineAmount(amount=line.amount, tax_rate=line.tax_rate) for line in lines], discount=discount)
