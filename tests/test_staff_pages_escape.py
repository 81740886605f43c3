"""Whatever a customer sends is shown as text on every staff page, never run as markup.

Orders come in through the real API and pipeline with HTML and script payloads
in the PO number, the notes and the customer's name; every staff page that
shows them (backlog in both densities and languages, its refresh, search,
bulk results, the order page, quotes, the admin, the error pages) must print
them escaped. A browser run checks that no payload fires.
"""

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from orders.models import Order
from orders.services.pipeline import order_advance
from orderdesk.audit import Actor
from quotes.services.workflow import quote_submit_for_approval
from tests.backlog_support import PASSWORD, make_staff
from tests.conftest import client_for
from tests.factories import CustomerFactory, draft_quote

pytestmark = pytest.mark.django_db

PO_PAYLOAD = '<script>alert("po")</script>'
NOTES_PAYLOAD = "<img src=x onerror=alert('notes')>\n\"><svg onload=alert('notes2')>"
NAME_PAYLOAD = "<b onmouseover=alert('name')>株式会社ペイロード</b>"
# What must never reach a page as it was typed.
RAW = ["<script>alert", "<img src=x", "<svg onload", "<b onmouseover"]


def submit_through_the_api(customer, po_number: str, notes: str) -> Order:
    response = client_for(customer).post(
        "/api/v1/orders/",
        {"po_number": po_number, "lines": [{"sku": "SRA-1Y", "quantity": 10}], "notes": notes},
        format="json",
        HTTP_IDEMPOTENCY_KEY=f"key-{po_number}",
    )
    assert response.status_code == 201, response.content
    order = Order.objects.get(number=response.json()["number"])
    for _step in range(6):
        order = order_advance(order_id=order.pk)
        if order.status in (Order.Status.NEEDS_REVIEW, Order.Status.COMPLETED):
            break
    return order


@pytest.fixture
def payloads(catalog):
    held_customer = CustomerFactory(code="XSS", name=NAME_PAYLOAD, manual_approval=True)
    open_customer = CustomerFactory(code="XSS2", name=NAME_PAYLOAD + "2")
    held = submit_through_the_api(held_customer, PO_PAYLOAD, NOTES_PAYLOAD)
    completed = submit_through_the_api(open_customer, PO_PAYLOAD + "2", NOTES_PAYLOAD)
    assert held.status == Order.Status.NEEDS_REVIEW and completed.status == Order.Status.COMPLETED
    quote = draft_quote(customer=held_customer, lines=[(catalog["SRA-1Y"], 50, 30, 0)], notes=NOTES_PAYLOAD)
    quote_submit_for_approval(quote=quote, actor=Actor.system("tests"))
    return {"held": held, "completed": completed, "quote": quote}


def assert_inert(response, where: str, shown: bool = True) -> None:
    page = response.content.decode()
    for raw in RAW:
        assert raw not in page, f"{where}: {raw!r} rendered as markup"
    if shown:
        assert "&lt;" in page, f"{where}: the payload is not on the page at all"


def backlog_pages(held):
    hx = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "backlog-live"}
    return [
        ("backlog", reverse("orders:backlog"), {}),
        ("backlog refresh", reverse("orders:backlog"), hx),
        ("backlog search", reverse("orders:backlog") + "?q=%3Cscript%3E", {}),
        ("backlog customer", reverse("orders:backlog") + "?customer=XSS", {}),
        ("order page", reverse("orders:detail", args=[held.number]), {}),
    ]


@pytest.mark.parametrize("language", ["ja", "en"])
@pytest.mark.parametrize("density", ["dense", "comfortable"])
def test_the_backlog_pages_show_payloads_as_text(client, payloads, language, density):
    client.force_login(make_staff("tanaka", "order_desk"))
    client.post("/i18n/setlang/", {"language": language, "next": "/"})
    client.post(reverse("orders:density"), {"density": density, "next": "/backlog/"})

    for where, url, headers in backlog_pages(payloads["held"]):
        assert_inert(client.get(url, **headers), f"{where} ({language}, {density})")
    assert_inert(client.get(reverse("orders:detail", args=[payloads["completed"].number])), "completed order page")


def test_bulk_results_and_the_error_pages_show_payloads_as_text(client, payloads):
    held = payloads["held"]
    client.force_login(make_staff("tanaka", "order_desk"))

    hx = client.post(reverse("orders:bulk"), {"action": "retry", "orders": [held.pk]}, HTTP_HX_REQUEST="true")
    plain = client.post(reverse("orders:bulk"), {"action": "retry", "orders": [held.pk], "next": "/backlog/"})

    assert_inert(hx, "bulk results (htmx)", shown=False)
    assert held.number in hx.content.decode()
    assert_inert(plain, "bulk results (page)")
    assert_inert(client.get("/backlog/%3Cscript%3Ealert(1)%3C%2Fscript%3E/"), "404", shown=False)


def test_the_quote_pages_and_the_admin_show_payloads_as_text(client, payloads):
    quote = payloads["quote"]
    client.force_login(make_staff("suzuki", "sales", "manager"))
    for where, url in [
        ("quote list", reverse("quotes:list")),
        ("quote page", reverse("quotes:detail", args=[quote.number])),
        ("approvals", reverse("quotes:approvals")),
        ("quote editor", reverse("quotes:new")),
        ("customer options", reverse("quotes:customer_options") + "?customer=XSS"),
    ]:
        assert_inert(client.get(url), where)

    client.force_login(User.objects.create_superuser("root", password=PASSWORD))
    for where, url in [
        ("admin orders", "/admin/orders/order/"),
        ("admin order", f"/admin/orders/order/{payloads['held'].pk}/change/"),
        ("admin customers", "/admin/licensing/customer/"),
    ]:
        assert_inert(client.get(url), where)


def test_no_staff_markup_is_built_in_python():
    """Safety must not depend on every interpolation remembering to escape: templates autoescape."""
    orders = Path(__file__).resolve().parent.parent / "orders"
    for path in orders.rglob("*.py"):
        source = path.read_text()
        assert "mark_safe" not in source and "format_html" not in source and "Markup(" not in source, f"{path} builds markup in Python"
    # The one place a template takes HTML as it is: the rows, from the autoescaping Jinja2 template.
    trusted = [(path.name, line.strip()) for path in (orders / "templates").rglob("*.html") for line in path.read_text().splitlines() if "|safe" in line or "autoescape off" in line]
    assert trusted == [("_backlog_live.html", "{{ rows_html|safe }}")]
