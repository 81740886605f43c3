"""The backlog in headless Chromium (Playwright) against the live server.

Sign in → Next → approve → the order leaves the backlog and a real Celery
worker completes it; bulk reject of three orders picked with the keyboard; a
helper sees the approve button disabled for a credit exception; the pages in
Japanese and English. Screenshots go to $ORDERDESK_ARTIFACTS (default
test-artifacts/).
"""

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from orders.models import Order, ReviewReason
from orders.services.transitions import Actor
from tests.backlog_support import PASSWORD, held_order, make_staff
from tests.conftest import skip_or_fail
from tests.factories import submitted_order
from tests.test_pipeline import wait_for_status, worker  # noqa: F401 — the pipeline's real Celery worker fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
ARTIFACTS = Path(os.environ.get("ORDERDESK_ARTIFACTS") or Path(__file__).resolve().parent.parent / "test-artifacts")


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        skip_or_fail(f"needs Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("needs Playwright for Python")
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"backlog-{name}.png"), full_page=True)


def sign_in(page, live_server, user, next_path="/backlog/"):
    page.goto(f"{live_server.url}/accounts/login/?next={next_path}")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(re.escape(next_path) + "$"))


def test_next_then_approve_takes_the_order_out_of_the_backlog_and_the_worker_completes_it(
    worker, live_server, page, customer, catalog  # noqa: F811
):
    customer.manual_approval = True
    customer.save()
    order = submitted_order(customer, po_number="PO-E2E-1", lines=[("SRA-1Y", 20)])
    wait_for_status(order.number, Order.Status.NEEDS_REVIEW)
    user = make_staff("tanaka", "order_desk", password=PASSWORD)

    sign_in(page, live_server, user)
    assert page.locator(f"tr[data-order-id='{order.pk}']").count() == 1
    page.keyboard.press("n")  # Next
    page.wait_for_url(re.compile(f"/backlog/{order.number}/$"))
    assert page.locator(".claim.mine").is_visible()
    screenshot(page, "detail-claimed-ja")
    page.keyboard.press("a")  # approve: manual approval needs no override reason

    page.wait_for_url(re.compile("/backlog/$"))
    assert page.locator(f"tr[data-order-id='{order.pk}']").count() == 0
    assert order.number in page.locator(".messages").inner_text()
    completed = wait_for_status(order.number, Order.Status.COMPLETED, timeout=60)
    assert list(completed.events.values_list("to_status", flat=True)) == [
        "received", "validated", "needs_review", "", "approved", "provisioning", "documenting", "completed"
    ]  # fmt: skip — "" is the claim


def test_bulk_reject_of_three_orders_picked_with_the_keyboard_survives_a_refresh(live_server, page, customer, catalog, settings):
    settings.BACKLOG_REFRESH_SECONDS = 2
    orders = [held_order(customer, catalog, po_number=f"PO-BULK-{i}", age=timedelta(hours=9 - i)) for i in range(4)]
    user = make_staff("tanaka", "order_desk", password=PASSWORD)

    sign_in(page, live_server, user)
    for _ in range(3):
        page.keyboard.press("j")
        page.keyboard.press("x")
    assert page.locator("[data-bulk-count]").inner_text().startswith("3")
    # The list refreshes itself; the selection must still be there afterwards.
    with page.expect_response(lambda response: "/backlog/" in response.url and response.request.headers.get("hx-request") == "true"):
        pass
    page.wait_for_timeout(300)
    assert page.locator("input[name=orders]:checked").count() == 3
    page.keyboard.press("r")
    page.keyboard.type("重複注文のため")
    screenshot(page, "bulk-selected-ja")
    page.keyboard.press("Enter")

    page.wait_for_selector(".bulk-results")
    screenshot(page, "bulk-result-ja")
    assert page.locator("tr[data-result=ok]").count() == 3
    statuses = [Order.objects.get(pk=order.pk).status for order in orders]
    assert statuses == [Order.Status.REJECTED] * 3 + [Order.Status.NEEDS_REVIEW]


def test_a_helper_sees_the_approve_button_disabled_for_a_credit_exception(live_server, page, customer, catalog):
    order = held_order(customer, catalog, reasons=[ReviewReason.OVER_CREDIT_LIMIT])
    user = make_staff("sato", "helper", password=PASSWORD)

    sign_in(page, live_server, user, next_path=f"/backlog/{order.number}/")

    assert page.locator("#approve-button").is_disabled()
    assert page.locator("#reject-form button").is_disabled()
    assert page.locator(".notice").is_visible()
    screenshot(page, "helper-credit-exception-ja")
    page.keyboard.press("a")  # the shortcut does nothing either
    page.wait_for_timeout(300)
    assert Order.objects.get(pk=order.pk).status == Order.Status.NEEDS_REVIEW


def test_the_backlog_in_japanese_and_in_english(live_server, page, customer, catalog):
    other = make_staff("yamada", "order_desk")
    held_order(customer, catalog, reasons=[ReviewReason.OVER_CREDIT_LIMIT], lines=[("SRA-1Y", 120), ("RDA-1Y", 60)], age=timedelta(hours=30))
    claimed = held_order(customer, catalog, po_number="PO-DUP", reasons=[ReviewReason.SUSPECTED_DUPLICATE], age=timedelta(hours=6))
    Order.objects.filter(pk=claimed.pk).update(claimed_by=other, claimed_at=timezone.now())
    held_order(customer, catalog, po_number="PO-FAIL", status=Order.Status.FAILED, reasons=[])
    detail = held_order(customer, catalog, po_number="PO-CAP", reasons=[ReviewReason.QUANTITY_OVER_CAP], lines=[("SRA-1Y", 1500)])
    user = make_staff("tanaka", "order_desk", password=PASSWORD)

    sign_in(page, live_server, user)
    assert page.locator("html").get_attribute("lang") == "ja"
    assert page.locator("h1").inner_text() == "受注バックログ"
    assert "与信限度額の超過" in page.content() and "¥" in page.content()
    screenshot(page, "list-ja")
    page.keyboard.press("?")
    assert page.locator("#shortcuts").is_visible()
    screenshot(page, "shortcuts-ja")
    page.keyboard.press("Escape")

    page.goto(f"{live_server.url}/backlog/{detail.number}/")
    assert "年" in page.locator(".timeline .when").first.inner_text()
    screenshot(page, "detail-ja")

    page.click("button[name=language][value=en]")
    page.wait_for_url(re.compile(f"/backlog/{detail.number}/$"))
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Quantity over the per-order cap" in page.content()
    screenshot(page, "detail-en")
    page.goto(f"{live_server.url}/backlog/")
    assert page.locator("h1").inner_text() == "Backlog"
    assert "Over the customer's credit limit" in page.content()
    screenshot(page, "list-en")


def test_no_page_loads_anything_from_another_host(live_server, page, customer, catalog):
    order = held_order(customer, catalog)
    user = make_staff("tanaka", "order_desk", password=PASSWORD)
    requested = []
    page.on("request", lambda request: requested.append(request.url))

    sign_in(page, live_server, user)
    page.goto(f"{live_server.url}/backlog/{order.number}/")

    assert requested and all(url.startswith(live_server.url) for url in requested), requested
    assert settings.STATIC_URL in " ".join(requested)
