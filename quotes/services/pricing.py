"""A quote's prices: tier price per line, line discounts, the whole-quote discount, tax once per rate.

Every number comes from licensing.pricing, the same functions orders use, so
the live totals on the page, the stored quote, its PDF and the order made from
it agree to the yen. Nothing here writes to the database.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from licensing.models import Product
from licensing.pricing import LineAmount, PricingError, Totals, document_totals, line_amount, product_unit_price
from quotes.services.errors import QuoteInvalid

MAX_LINES = 100
MAX_QUANTITY = 100_000


@dataclass(frozen=True)
class LineInput:
    product: Product
    quantity: int
    discount_percent: int = 0
    discount_yen: int = 0


@dataclass(frozen=True)
class PricedLine:
    product: Product
    quantity: int
    unit_price: int
    discount_percent: int
    discount_yen: int
    amount: int

    @property
    def gross(self) -> int:
        return self.unit_price * self.quantity

    @property
    def tax_rate(self) -> int:
        return self.product.tax_rate


@dataclass(frozen=True)
class PricedQuote:
    lines: tuple[PricedLine, ...]
    totals: Totals
    list_total: int  # every line at its tier price, before any discount

    @property
    def discount_total(self) -> int:
        return self.list_total - self.totals.subtotal

    @property
    def discount_percent_of_list(self) -> float:
        return 100 * self.discount_total / self.list_total if self.list_total else 0.0

    @property
    def needs_approval(self) -> bool:
        # Integer comparison: discount / list > threshold%, without floats.
        return self.discount_total * 100 > settings.QUOTE_APPROVAL_DISCOUNT_PERCENT * self.list_total


def quote_price(*, lines: Sequence[LineInput], discount: int = 0) -> PricedQuote:
    """Price the lines and the whole-quote discount, or raise QuoteInvalid naming every bad field."""
    errors: dict[str, list[str]] = {}
    if not lines:
        errors["lines"] = [_("Add at least one line.")]
    if len(lines) > MAX_LINES:
        errors["lines"] = [_("A quote has at most %(max)d lines.") % {"max": MAX_LINES}]
    priced = []
    seen: dict[int, int] = {}
    for index, line in enumerate(lines):
        if line.product.pk in seen:
            errors[f"lines[{index}].product"] = [
                _("%(sku)s is already on line %(line)d; each product may appear once.")
                % {"sku": line.product.sku, "line": seen[line.product.pk] + 1}
            ]
            continue
        seen[line.product.pk] = index
        result = _price_line(line, index, errors)
        if result is not None:
            priced.append(result)
    totals = None
    if not errors:
        subtotal_before = sum(line.amount for line in priced)
        if discount < 0 or discount > subtotal_before:
            errors["discount"] = [
                _("The quote discount must be between ¥0 and ¥%(max)s.") % {"max": f"{subtotal_before:,}"}
            ]
        else:
            totals = document_totals([LineAmount(line.amount, line.tax_rate) for line in priced], discount=discount)
    if errors:
        raise QuoteInvalid(errors)
    return PricedQuote(lines=tuple(priced), totals=totals, list_total=sum(line.gross for line in priced))


def _price_line(line: LineInput, index: int, errors: dict) -> PricedLine | None:
    field = f"lines[{index}]"
    if not 1 <= line.quantity <= MAX_QUANTITY:
        errors[f"{field}.quantity"] = [_("Quantity must be between 1 and %(max)s.") % {"max": f"{MAX_QUANTITY:,}"}]
        return None
    try:
        unit_price = product_unit_price(line.product, line.quantity)
    except PricingError:
        errors[f"{field}.product"] = [_("%(sku)s has no price for %(quantity)s.") % {"sku": line.product.sku, "quantity": line.quantity}]
        return None
    gross = unit_price * line.quantity
    if line.discount_percent and line.discount_yen:
        errors[f"{field}.discount"] = [_("Give a line discount in percent or in yen, not both.")]
        return None
    if not 0 <= line.discount_percent <= 100:
        errors[f"{field}.discount"] = [_("A percent discount must be between 0 and 100.")]
        return None
    if not 0 <= line.discount_yen <= gross:
        errors[f"{field}.discount"] = [_("A yen discount must be between ¥0 and ¥%(max)s.") % {"max": f"{gross:,}"}]
        return None
    amount = line_amount(
        unit_price=unit_price, quantity=line.quantity, discount_percent=line.discount_percent, discount_yen=line.discount_yen
    )
    return PricedLine(
        product=line.product,
        quantity=line.quantity,
        unit_price=unit_price,
        discount_percent=line.discount_percent,
        discount_yen=line.discount_yen,
        amount=amount,
    )
