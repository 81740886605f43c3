"""An order's amounts are computed in one place (orders/totals.py): what is stored, what the API shows and
what the 御見積書 PDF prints agree, whichever way the order's lines or prices came or changed."""

import re
import subprocess

import pytest

from orderdesk.audit import Actor
from orders.models import Order, OrderDocument
from orders.services.from_quote import order_from_quote
from orders.services.pipeline import orders_advance
from orders.services.review import order_edit_lines
from orders.totals import order_totals
from tests.backlog_support import make_staff
from tests.conftest import client_for, order_body
from tests.factories import sent_quote

pytestmark = pytest.mark.django_db


def pdf_totals(order: Order) -> dict[str, int]:
    """Render the order's quote PDF through the pipeline's documenting step and read its amounts."""
    OrderDocument.objects.filter(order=order).delete()
    Order.objects.filter(pk=order.pk).update(status=Order.Status.DOCUMENTING)
    orders_advance(order_ids=[order.pk], status=Order.Status.DOCUMENTING)
    document = OrderDocument.objects.get(order=order)
    with document.file.open("rb") as pdf:
        text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf.read(), capture_output=True, check=True).stdout.decode()

    def amount_after(label: str) -> int:
        found = re.search(label + r"\s*¥([\d,]+)", text)
        assert found, f"{label} not in the PDF:\n{text}"
        return int(found.group(1).replace(",", ""))

    return {"subtotal": amount_after("小計"), "total": amount_after("合計")}


def assert_one_set_of_totals(order: Order, api) -> None:
    order.refresh_from_db()
    computed = order_totals(lines=order.lines.all(), discount=order.discount)
    stored = {"subtotal": order.subtotal, "tax": order.tax, "total": order.total}
    assert stored == {"subtotal": computed.subtotal, "tax": computed.tax, "total": computed.total}
    shown = api.get(f"/api/v1/orders/{order.number}/").json()
    assert {name: shown[name] for name in stored} == stored
    assert shown["discount"] == order.discount
    assert pdf_totals(order) == {"subtotal": order.subtotal, "total": order.total}


def test_stored_api_and_pdf_totals_agree_through_every_path_that_changes_an_order(customer, catalog, requires_tool, settings):
    requires_tool("pdftotext")
    settings.QUOTE_APPROVAL_DISCOUNT_PERCENT = 50  # a quote with discounts that needs no approval, to send it here
    api = client_for(customer)

    # 1. Submitted through the API at the catalog's tier prices.
    submitted = Order.objects.get(number=api.post("/api/v1/orders/", data=order_body(), format="json").json()["number"])
    assert_one_set_of_totals(submitted, api)

    # 2. From an accepted quote: a line discount and a whole-quote discount.
    quote = sent_quote(customer=customer, lines=[(catalog["SRA-1Y"], 60, 10, 0), (catalog["RDA-1Y"], 30)], discount=12_345)
    from_quote = order_from_quote(quote=quote, actor=Actor.customer(customer), po_number="PO-QUOTE").order
    assert from_quote.discount == 12_345 and from_quote.total == quote.total
    assert_one_set_of_totals(from_quote, api)

    # 3. The same order's lines edited in the backlog: the discount stays, the totals follow.
    Order.objects.filter(pk=from_quote.pk).update(status=Order.Status.NEEDS_REVIEW)
    desk = make_staff("desk", "order_desk")
    order_edit_lines(order=from_quote, actor=Actor.staff(desk), changes={"SRA-1Y": 40, "RDA-1Y": 0})
    from_quote.refresh_from_db()
    assert from_quote.discount == 12_345
    assert_one_set_of_totals(from_quote, api)

    # 4. A line added in the backlog, priced at the tier for its quantity.
    Order.objects.filter(pk=from_quote.pk).update(status=Order.Status.NEEDS_REVIEW)
    order_edit_lines(order=from_quote, actor=Actor.staff(desk), changes={"RDA-1Y": 15})
    assert_one_set_of_totals(from_quote, api)
