"""Quote prices: tiers, line and whole-quote discounts, tax once per rate; PDF = database = API = order."""

import re
import subprocess

import pytest

from licensing.models import Product
from orders.services.from_quote import order_from_quote
from orders.services.transitions import Actor
from quotes.services.documents import quote_render_by_number
from quotes.services.errors import QuoteInvalid
from quotes.services.pricing import LineInput, quote_price
from tests.factories import PriceTierFactory, ProductFactory, draft_quote, sent_quote

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("quantity", "unit_price"),
    [(1, 6000), (49, 6000), (50, 5400), (99, 5400), (100, 4800), (100_000, 4800)],
)
def test_each_tier_boundary_sets_the_unit_price(catalog, customer, quantity, unit_price):
    quote = draft_quote(customer=customer, lines=[(catalog["SRA-1Y"], quantity)])

    line = quote.lines.get()
    assert line.unit_price == unit_price
    assert line.amount == unit_price * quantity
    assert quote.list_total == quote.subtotal == unit_price * quantity


def test_percent_line_discount_is_taken_off_the_gross_and_rounded_down(catalog):
    priced = quote_price(lines=[LineInput(catalog["SRA-1Y"], 3, discount_percent=33)])

    # 3 × ¥6,000 = ¥18,000; 33% = ¥5,940 → ¥12,060
    assert priced.lines[0].amount == 12_060
    assert priced.totals.subtotal == 12_060


def test_yen_line_discount_and_whole_quote_discount(catalog, customer):
    quote = draft_quote(
        customer=customer,
        lines=[(catalog["SRA-1Y"], 50, 10, 0), (catalog["RDA-1Y"], 50, 0, 5000)],
        discount=10_000,
    )

    sra, rda = quote.lines.all()
    assert (sra.amount, rda.amount) == (243_000, 130_000)  # 270,000 − 10%; 135,000 − ¥5,000
    assert quote.list_total == 405_000
    assert quote.discount == 10_000
    assert quote.subtotal == 363_000
    assert quote.tax == 36_300
    assert quote.total == 399_300
    assert quote.line_discount_total == 32_000


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (dict(discount_percent=101), "lines[0].discount"),
        (dict(discount_yen=6001), "lines[0].discount"),
        (dict(discount_percent=5, discount_yen=5), "lines[0].discount"),
        (dict(quantity=0), "lines[0].quantity"),
    ],
)
def test_impossible_line_discounts_are_refused_naming_the_field(catalog, line, field):
    with pytest.raises(QuoteInvalid) as refused:
        quote_price(lines=[LineInput(**{"product": catalog["SRA-1Y"], "quantity": 1, **line})])

    assert list(refused.value.errors) == [field]


def test_whole_quote_discount_over_the_subtotal_is_refused(catalog):
    with pytest.raises(QuoteInvalid) as refused:
        quote_price(lines=[LineInput(catalog["SRA-1Y"], 1)], discount=6001)

    assert list(refused.value.errors) == ["discount"]


def test_the_same_product_twice_is_refused(catalog):
    with pytest.raises(QuoteInvalid) as refused:
        quote_price(lines=[LineInput(catalog["SRA-1Y"], 1), LineInput(catalog["SRA-1Y"], 2)])

    assert "lines[1].product" in refused.value.errors


def _product(sku: str, price: int, tax_rate: int = 10) -> Product:
    product = ProductFactory(sku=sku, name_ja=f"品目 {sku}", tax_rate=tax_rate)
    PriceTierFactory(product=product, min_quantity=1, unit_price=price)
    return product


def test_three_lines_of_105_yen_at_10_percent_give_31_yen_tax_rounded_down_once(customer):
    products = [_product(f"P105-{n}", 105) for n in range(3)]

    quote = draft_quote(customer=customer, lines=[(product, 1) for product in products])

    # Per line it would be 3 × ¥10 = ¥30; once on ¥315 it is ¥31.5 → ¥31.
    assert quote.subtotal == 315
    assert quote.tax == 31
    assert quote.tax_rows == [{"rate": 10, "subtotal": 315, "tax": 31}]


def test_an_8_percent_line_and_a_10_percent_line_give_two_tax_rows(customer):
    software = _product("SOFT", 10_000, tax_rate=10)
    food = _product("FOOD", 1_080, tax_rate=8)

    quote = draft_quote(customer=customer, lines=[(software, 1), (food, 10)])

    assert quote.tax_rows == [
        {"rate": 10, "subtotal": 10_000, "tax": 1_000},
        {"rate": 8, "subtotal": 10_800, "tax": 864},
    ]
    assert quote.total == 20_800 + 1_864


def test_totals_on_the_pdf_equal_the_database_the_api_and_the_order(customer, api, tmp_path, requires_tool):
    requires_tool("pdftotext")
    software = _product("SOFT", 12_345, tax_rate=10)
    food = _product("FOOD", 1_080, tax_rate=8)
    quote = sent_quote(customer=customer, lines=[(software, 7, 3, 0), (food, 13, 0, 500)], discount=4_321)

    path = tmp_path / "quote.pdf"
    path.write_bytes(quote_render_by_number(number=quote.number).content)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True).stdout
    body = api.get(f"/api/v1/quotes/{quote.number}/").json()
    order = order_from_quote(quote=quote, actor=Actor.system("tests")).order

    assert quote.tax_rows[0]["rate"] == 10 and quote.tax_rows[1]["rate"] == 8
    for row in quote.tax_rows:
        assert re.search(rf"{row['rate']}%対象\s+¥{row['subtotal']:,}\s+消費税\s+¥{row['tax']:,}", text), row
    assert re.search(rf"値引\s+-¥{quote.discount:,}", text)
    assert re.search(rf"小計\s+¥{quote.subtotal:,}", text)
    assert re.search(rf"合計\s+¥{quote.total:,}", text)
    assert f"¥{quote.total:,}（税込）" in text
    assert f"内消費税 ¥{quote.tax:,}" in text
    assert (body["subtotal"], body["tax"], body["total"], body["discount"]) == (quote.subtotal, quote.tax, quote.total, quote.discount)
    assert body["tax_rows"] == quote.tax_rows
    assert (order.subtotal, order.tax, order.total, order.discount) == (quote.subtotal, quote.tax, quote.total, quote.discount)
    assert [(l.unit_price, l.amount) for l in order.lines.all()] == [(l.unit_price, l.amount) for l in quote.lines.all()]
