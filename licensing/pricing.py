"""Prices and consumption tax — the only place they are computed.

Orders and quotes both call these functions, so a quote's PDF, the order made
from it and the API all show the same yen. Money is integer yen throughout:
JPY has no minor unit, and floats never touch an amount.

Tax follows the Qualified Invoice System: once per document per tax rate, on
that rate's subtotal, never per line. The rounding mode is settings.TAX_ROUNDING.
"""

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

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


# --- Co-terming (月割り) ------------------------------------------------------------------
#
# Seats added to a running subscription end with it: they are priced for the
# whole months from the day they start to the end of the subscription's term,
# out of the product's term. A begun month counts as a whole one
# (COTERM_MONTH_ROUNDING "up", the default; "down" counts only complete
# months, at least one), and the yen of the pro-rated unit price are rounded by
# COTERM_PRICE_ROUNDING (down, half_up, up), like tax. Seats that would run a
# whole term or more cost the full price.


@dataclass(frozen=True)
class Coterm:
    """Seats starting on `start` that end with a term ending on `term_end`: `months` of a `term_months` term."""

    months: int
    term_months: int
    term_end: date

    @property
    def is_prorated(self) -> bool:
        return self.months < self.term_months


def add_months(day: date, months: int) -> date:
    """The same day `months` later; the month's last day when it is shorter (Jan 31 + 1 → Feb 28)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def months_remaining(*, start: date, term_end: date, rounding: str | None = None) -> int:
    """Months from `start` (inclusive) to `term_end` (inclusive), a begun month whole unless rounding is "down".

    A term ending 2027-03-31: from 2027-03-01 one month, from 2026-10-01 six,
    from 2026-10-15 six (up) or five (down). 0 when the term ended before `start`.
    """
    rounding = rounding or settings.COTERM_MONTH_ROUNDING
    if term_end < start:
        return 0
    months = 0
    # The smallest m whose m months from start cover the term's last day.
    while add_months(start, months + 1) - timedelta(days=1) < term_end:
        months += 1
    complete = add_months(start, months + 1) - timedelta(days=1) == term_end
    if rounding == "up" or complete:
        return months + 1
    if rounding == "down":
        return max(months, 1)
    raise PricingError(f"unknown month rounding {rounding!r}")


def coterm(*, start: date, term_end: date | None, term_months: int) -> Coterm | None:
    """How seats starting on `start` co-term with a subscription whose term ends on `term_end`.

    None when there is no running term to join (no subscription, or its term
    ended before `start`): the seats start a term of their own, at full price.
    """
    if term_end is None or term_end < start:
        return None
    return Coterm(months=min(months_remaining(start=start, term_end=term_end), term_months), term_months=term_months, term_end=term_end)


def prorated_unit_price(unit_price: int, coterm: Coterm | None, *, rounding: str | None = None) -> int:
    """The unit price of seats that end with a running term: unit_price × months / term_months, rounded."""
    if coterm is None or not coterm.is_prorated:
        return unit_price
    return round_tax(unit_price * coterm.months, coterm.term_months, rounding or settings.COTERM_PRICE_ROUNDING)


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
