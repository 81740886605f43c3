"""The order's quote PDF: what it says, stored once, served only to its customer."""

import re
import subprocess

import pytest

from licensing.models import Customer
from orders.models import Order, OrderDocument
from orders.services.pipeline import orders_advance
from tests.conftest import client_for
from tests.factories import submitted_order

pytestmark = pytest.mark.django_db


def place_order(customer, po_number="PO-DOC-1"):
    return submitted_order(customer, po_number=po_number, lines=[("SRA-1Y", 50), ("RDA-1Y", 50)])


def order_quote_render(*, order: Order) -> OrderDocument:
    """The pipeline's documenting step on the order (as if provisioned): its stored quote PDF."""
    Order.objects.filter(pk=order.pk).update(status=Order.Status.DOCUMENTING)
    orders_advance(order_ids=[order.pk], status=Order.Status.DOCUMENTING)
    return OrderDocument.objects.get(order=order, kind=OrderDocument.Kind.QUOTE)


def pdf_text(document: OrderDocument) -> str:
    with document.file.open("rb") as pdf:
        result = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf.read(), capture_output=True, check=True)
    return result.stdout.decode()


@pytest.mark.parametrize(
    ("honorific", "name", "printed", "not_printed"),
    [
        (Customer.Honorific.COMPANY, "株式会社オーナー", r"株式会社オーナー\s*御中", "様"),
        (Customer.Honorific.PERSON, "山田 太郎", r"山田 太郎\s*様", "御中"),
    ],
)
def test_the_stored_quote_pdf_names_the_customer_with_the_right_honorific_and_the_total(
    customer, catalog, requires_tool, honorific, name, printed, not_printed
):
    requires_tool("pdftotext")
    customer.honorific, customer.name = honorific, name
    customer.save()
    order = place_order(customer)

    text = pdf_text(order_quote_render(order=order))

    assert "御見積書" in text
    assert re.search(printed, text)
    assert not_printed not in text
    # 50 × ¥5,400 + 50 × ¥2,700 = ¥405,000; tax ¥40,500; total ¥445,500.
    assert order.total == 445_500
    assert "¥445,500" in text
    assert "¥40,500" in text
    assert order.number in text
    assert "PO-DOC-1" in text


def test_rendering_twice_stores_one_document(customer, catalog):
    order = place_order(customer)

    first = order_quote_render(order=order)
    second = order_quote_render(order=order)

    assert first.pk == second.pk
    assert OrderDocument.objects.filter(order=order).count() == 1
    with first.file.open("rb") as pdf:
        assert pdf.read(5) == b"%PDF-"


def test_the_pdf_endpoint_answers_404_until_the_pdf_is_rendered(api, customer):
    order = place_order(customer)

    response = api.get(f"/api/v1/orders/{order.number}/documents/quote.pdf")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == "document-not-rendered"


def test_the_pdf_is_served_to_its_customer_and_listed_on_the_order(api, colleague_api, customer):
    order = place_order(customer)
    document = order_quote_render(order=order)

    for client in (api, colleague_api):
        response = client.get(f"/api/v1/orders/{order.number}/documents/quote.pdf", HTTP_ACCEPT="application/pdf")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        assert b"".join(response.streaming_content).startswith(b"%PDF-")

    detail = api.get(f"/api/v1/orders/{order.number}/").json()
    assert detail["documents"] == [
        {
            "kind": "quote",
            "url": f"http://testserver/api/v1/orders/{order.number}/documents/quote.pdf",
            "content_type": "application/pdf",
            "sha256": document.sha256,
            "created_at": detail["documents"][0]["created_at"],
        }
    ]
    assert detail["licenses"] == []  # not provisioned yet


def test_another_customers_pdf_is_not_found(outsider_api, customer, catalog):
    order = place_order(customer)
    order_quote_render(order=order)

    response = outsider_api.get(f"/api/v1/orders/{order.number}/documents/quote.pdf")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == "not-found"


def test_the_pdf_endpoint_needs_a_token(client, customer, catalog):
    order = place_order(customer)
    order_quote_render(order=order)

    response = client.get(f"/api/v1/orders/{order.number}/documents/quote.pdf")

    assert response.status_code == 401


def test_a_person_customer_sees_their_own_pdf(catalog):
    person = Customer.objects.create(code="YAMADA", name="山田 太郎", honorific=Customer.Honorific.PERSON, credit_limit=10**9)
    order = place_order(person, po_number="PO-Y")
    order_quote_render(order=order)

    response = client_for(person).get(f"/api/v1/orders/{order.number}/documents/quote.pdf")

    assert response.status_code == 200
