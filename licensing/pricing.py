"""Prices and consumption tax — the only place they are computed.

Orders and quotes both call these functions, so a quote's PDF, the order made
from it and the API all show the same yen. Money is integer yen throughout:
JPY has no minor unit, and floats never touch an amount.

Tax follows the Qualified Invoice System: once per document per tax rate, on
that rate's subtotal, never per line. The rounding mode is settings.TAX_ROUNDING.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings


class PricingError(ValueError):
    """A price cannot be computed (no tier covers the quantity, bad discount)."""


@dataclass(frozen=True)
class Tier:
    min_quantity: int
    unit_price: int


@dataclass(frozen=True)
class LineAmount:
    amount: int       # tax-exclusive, after the line's discount
    tax_rate: int     # percent, e.g. 10 or 8


@dataclass(frozen=True)
class TaxRow:
    rate: int
    subtotal: int     # tax-exclusive subtotal of the lines at this rate, after discounts
    tax: int


@dataclass(frozen=True)
class Totals:
    tax_rows: tuple[TaxRow, ...]   # highest rate first
    discount: int                  # whole-document discount, already inside the subtotals
    subtotal: int
    tax: int
    total: int


def tier_unit_price(tiers: Iterable[Tier], quantity: int) -> int:
    """The unit price of the highest tier whose minimum the quantity reaches."""
    if quantity < 1:
        raise PricingError(f"quantity must be at least 1, got {quantity}")
    eligible = [tier for tier in tiers if tier.min_quantity <= quantity]
    if not eligible:
        raise PricingError(f"no price tier covers a quantity of {quantity}")
    return max(eligible, key=lambda tier: tier.min_quantity).unit_price


def product_tiers(product) -> list[Tier]:
    # Uses .all() so a prefetch_related("price_tiers") is honoured.
    return [Tier(t.min_quantity, t.unit_price) for t in product.price_tiers.all()]


def product_unit_price(product, quantity: int) -> int:
    return tier_unit_price(product_tiers(product), quantity)


def line_amount(*, unit_price: int, quantity: int, discount_percent: int = 0, discount_yen: int = 0) -> int:
    """Amount of one line after its own discount (percent of the gross, or a yen amount).

    A percent discount is rounded down in yen, so the customer never pays a
    fraction of a yen more than the percentage promises.
    """
    gross = unit_price * quantity
    if not 0 <= discount_percent <= 100:
        raise PricingError(f"discount percent must be between 0 and 100, got {discount_percent}")
    if discount_percent and discount_yen:
        raise PricingError("a line has either a percent or a yen discount, not both")
    if discount_yen < 0 or discount_yen > gross:
        raise PricingError(f"discount of ¥{discount_yen:,} is outside ¥0–¥{gross:,}")
    discount = gross * discount_percent // 100 if discount_percent else discount_yen
    return gross - discount


def round_tax(numerator: int, denominator: int, mode: str | None = None) -> int:
    """numerator / denominator rounded to whole yen in the given (or configured) mode."""
    mode = mode or settings.TAX_ROUNDING
    if mode == "down":
        return numerator // denominator
    if mode == "up":
        return -(-numerator // denominator)
    if mode == "half_up":
        return (2 * numerator + denominator) // (2 * denominator)
    raise PricingError(f"unknown tax rounding mode {mode!r}")


def _allocate_discount(subtotals: dict[int, int], discount: int) -> dict[int, int]:
    """Split a whole-document discount over the tax rates in proportion to their subtotals.

    The remainder from rounding goes to the largest subtotal, so the parts add
    up to the discount exactly.
    """
    gross = sum(subtotals.values())
    if discount < 0 or discount > gross:
        raise PricingError(f"discount of ¥{discount:,} is outside ¥0–¥{gross:,}")
    if not discount:
        return {rate: 0 for rate in subtotals}
    shares = {rate: discount * amount // gross for rate, amount in subtotals.items()}
    largest = max(subtotals, key=lambda rate: (subtotals[rate], rate))
    shares[largest] += discount - sum(shares.values())
    return shares


def document_totals(lines: Sequence[LineAmount], *, discount: int = 0, rounding: str | None = None) -> Totals:
    """Subtotal, tax and total of one document: tax once per rate, on the rate's subtotal."""
    subtotals: dict[int, int] = {}
    for line in lines:
        subtotals[line.tax_rate] = subtotals.get(line.tax_rate, 0) + line.amount
    shares = _allocate_discount(subtotals, discount)
    rows = []
    for rate in sorted(subtotals, reverse=True):
        rate_subtotal = subtotals[rate] - shares[rate]
        rows.append(TaxRow(rate=rate, subtotal=rate_subtotal, tax=round_tax(rate_subtotal * rate, 100, rounding)))
    subtotal = sum(row.subtotal for row in rows)
    tax = sum(row.tax for row in rows)
    return Totals(tax_rows=tuple(rows), discount=discount, subtotal=subtotal, tax=tax, total=subtotal + tax)
