"""Prices and tax: volume tiers, discounts, tax once per document per rate."""

import pytest

from licensing.pricing import (
    LineAmount,
    PricingError,
    Tier,
    document_totals,
    line_amount,
    round_tax,
    tier_unit_price,
)

TIERS = [Tier(1, 6000), Tier(50, 5400), Tier(100, 4800)]


@pytest.mark.parametrize(
    ("quantity", "unit_price"), [(1, 6000), (49, 6000), (50, 5400), (99, 5400), (100, 4800), (100_000, 4800)]
)
def test_each_tier_starts_at_its_minimum_quantity(quantity, unit_price):
    assert tier_unit_price(TIERS, quantity) == unit_price


def test_a_quantity_below_every_tier_has_no_price():
    with pytest.raises(PricingError):
        tier_unit_price([Tier(10, 500)], 9)


def test_tax_on_three_105_yen_lines_is_computed_once_and_rounded_down(settings):
    settings.TAX_ROUNDING = "down"
    totals = document_totals([LineAmount(105, 10)] * 3)
    # Per line it would be 10 + 10 + 10 = 30; on the subtotal of 315 it is 31.5 → 31.
    assert (totals.subtotal, totals.tax, totals.total) == (315, 31, 346)


@pytest.mark.parametrize(("mode", "tax"), [("down", 31), ("half_up", 32), ("up", 32)])
def test_rounding_mode_is_a_setting(settings, mode, tax):
    settings.TAX_ROUNDING = mode
    assert document_totals([LineAmount(315, 10)]).tax == tax


def test_half_up_rounds_only_halves_up():
    assert round_tax(1234 * 10, 100, "half_up") == 123  # 123.4
    assert round_tax(1235 * 10, 100, "half_up") == 124  # 123.5


def test_eight_and_ten_percent_lines_give_two_tax_rows():
    totals = document_totals([LineAmount(1000, 10), LineAmount(999, 8), LineAmount(500, 10)], rounding="down")
    assert [(row.rate, row.subtotal, row.tax) for row in totals.tax_rows] == [(10, 1500, 150), (8, 999, 79)]
    assert (totals.subtotal, totals.tax, totals.total) == (2499, 229, 2728)


def test_line_discounts_in_percent_round_in_the_customers_favour():
    # 2997 gross, 15% is 449.55 → a discount of 449, amount 2548
    assert line_amount(unit_price=999, quantity=3, discount_percent=15) == 2548
    assert line_amount(unit_price=1000, quantity=10, discount_yen=1500) == 8500


@pytest.mark.parametrize(
    "kwargs",
    [
        {"discount_percent": 101},
        {"discount_percent": -1},
        {"discount_yen": 10_001},
        {"discount_yen": -5},
        {"discount_percent": 5, "discount_yen": 5},
    ],
)
def test_impossible_line_discounts_are_refused(kwargs):
    with pytest.raises(PricingError):
        line_amount(unit_price=1000, quantity=10, **kwargs)


def test_whole_document_discount_is_split_over_rates_and_taxed_after():
    totals = document_totals([LineAmount(10_000, 10), LineAmount(5_000, 8)], discount=1_500, rounding="down")
    rows = {row.rate: row for row in totals.tax_rows}
    assert rows[10].subtotal == 9_000 and rows[8].subtotal == 4_500
    assert rows[10].tax == 900 and rows[8].tax == 360
    assert (totals.subtotal, totals.discount, totals.total) == (13_500, 1_500, 14_760)


def test_discount_split_remainder_keeps_the_sum_exact():
    totals = document_totals([LineAmount(100, 10), LineAmount(100, 8), LineAmount(100, 10)], discount=100)
    assert totals.subtotal == 200
    assert sum(row.subtotal for row in totals.tax_rows) == 200


def test_a_discount_larger_than_the_document_is_refused():
    with pytest.raises(PricingError):
        document_totals([LineAmount(100, 10)], discount=101)
