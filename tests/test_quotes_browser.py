"""End to end in headless Chromium: a sales user builds, prices live, and sends a quote;
the customer accepts it through the API; a real Celery worker completes the order."""

import os
import re
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail

from licensing.models import Product
from orders.models import Order
from orderdesk.notifications.emails import email_send
from orderdesk.notifications.models import OutboundEmail
from quotes.models import Quote
from tests.conftest import REQUIRE_SERVICES, client_for, skip_or_fail
from tests.factories import PriceTierFactory, ProductFactory, staff_user
from tests.workers import Worker, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
ARTIFACTS = Path(os.environ.get("ORDERDESK_ARTIFACTS", "test-artifacts"))
PASSWORD = "pw-for-tests"


@pytest.fixture
def browser_page(monkeypatch):
    if not Path(CHROMIUM).exists():
        skip_or_fail(f"needs Chromium at {CHROMIUM}")
    playwright_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # Playwright's sync API keeps an event loop in this thread; the ORM calls here stay synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="ja-JP")
        page.set_default_timeout(15_000)
        yield page
        browser.close()


@pytest.fixture
def worker(tmp_path):
    """A real Celery worker, or None where PostgreSQL and Redis are missing (CI always has them).

    Without one the test still drives the browser and the API and checks that
    the order was stored in `received`; only the completion step needs the worker.
    """
    from django.db import connection

    missing = []
    if connection.vendor != "postgresql":
        missing.append("DATABASE_URL=postgres://…")
    if not settings.CELERY_BROKER_URL.startswith("redis://") or shutil.which("redis-server") is None:
        missing.append("CELERY_BROKER_URL=redis://…")
    if missing:
        if REQUIRE_SERVICES:
            pytest.fail(f"the order must complete through a real worker: set {' and '.join(missing)}")
        yield None
        return
    worker = Worker(broker_url=settings.CELERY_BROKER_URL, log_dir=tmp_path).start()
    yield worker
    worker.stop()


@pytest.fixture
def shop(catalog, customer):
    support = ProductFactory(sku="SUP-1Y", name_ja="導入支援サービス", name_en="Onboarding support", unit="式")
    PriceTierFactory(product=support, min_quantity=1, unit_price=150_000)
    staff_user("seller", "sales", password=PASSWORD)
    return {**catalog, "SUP-1Y": support}


def shoot(page, name: str):
    page.screenshot(path=str(ARTIFACTS / f"quotes-{name}.png"), full_page=True)


def total_shown(page) -> str:
    return page.locator("#totals [data-total=total]").inner_text()


def fill_line(page, index: int, product: Product, quantity: int):
    page.select_option(f"select[name='lines-{index}-product']", str(product.pk))
    page.fill(f"input[name='lines-{index}-quantity']", str(quantity))


def test_sales_builds_sends_and_the_customer_accepts_a_quote(browser_page, live_server, worker, shop, customer):
    page = browser_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "seller")
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("main button[type=submit]")
    page.goto(f"{live_server.url}/quotes/new/")
    assert page.locator("html").get_attribute("lang") == "ja"

    page.fill("input[name=customer]", customer.code)
    fill_line(page, 0, shop["SRA-1Y"], 50)  # 50 × ¥5,400 = ¥270,000
    fill_line(page, 1, shop["RDA-1Y"], 50)  # 50 × ¥2,700 = ¥135,000
    page.click("#add-line")
    page.wait_for_selector("select[name='lines-3-product']")
    fill_line(page, 2, shop["SUP-1Y"], 1)  # ¥150,000
    # 555,000 + 10% = 610,500
    page.wait_for_function("document.querySelector('#totals [data-total=total]')?.innerText === '¥610,500'")
    assert page.locator("#row-0-unit").inner_text() == "¥5,400"

    page.fill("input[name='lines-0-quantity']", "100")  # the next tier: 100 × ¥4,800 = ¥480,000
    page.wait_for_function("document.querySelector('#totals [data-total=total]')?.innerText === '¥841,500'")
    assert page.locator("#row-0-unit").inner_text() == "¥4,800"
    page.fill("input[name='lines-0-discount_value']", "5")  # −¥24,000 → 741,000 + 74,100
    page.wait_for_function("document.querySelector('#totals [data-total=total]')?.innerText === '¥815,100'")
    page.fill("input[name=discount]", "1000")  # 740,000 + 74,000
    page.wait_for_function("document.querySelector('#totals [data-total=total]')?.innerText === '¥814,000'")
    page.fill("textarea[name=notes]", "ライセンスはご発注後5営業日以内に発行いたします。")
    shoot(page, "editor-ja")

    page.click("button.save")
    page.wait_for_selector("#send-quote")
    quote = Quote.objects.get()
    assert (quote.subtotal, quote.tax, quote.total, quote.lines.count()) == (740_000, 74_000, 814_000, 3)
    shoot(page, "detail-draft-ja")

    page.click("#send-quote")
    page.wait_for_selector(".badge.status-sent")
    assert "送信中" in page.locator("#email-state").inner_text()  # the button answered at once; a worker sends it
    assert len(mail.outbox) == 0
    email_send(email_id=OutboundEmail.objects.get(topic=f"quote:{quote.pk}").pk)  # what the notifications worker runs
    page.reload()
    assert "送信済み" in page.locator("#email-state").inner_text()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [customer.billing_email] and quote.number in message.subject
    (filename, content, content_type) = message.attachments[0]
    assert filename == f"quote-{quote.number}.pdf" and content_type == "application/pdf" and content.startswith(b"%PDF")
    assert page.locator(".history li").count() == 3  # created, sent, e-mail sent
    shoot(page, "detail-sent-ja")

    page.click("button[name=language][value=en]")
    page.wait_for_selector("html[lang=en]")
    assert page.locator(".badge.status-sent").inner_text() == "Sent"
    shoot(page, "detail-sent-en")
    page.goto(f"{live_server.url}/quotes/?q=SUP")
    assert page.locator(f"a:has-text('{quote.number}')").count() == 1
    shoot(page, "list-en")

    response = client_for(customer).post(f"/api/v1/quotes/{quote.number}/accept/", {}, format="json")
    assert response.status_code == 201, response.content
    number = response.json()["number"]
    assert response.json()["total"] == 814_000

    if worker is None:
        assert Order.objects.get(number=number).status == Order.Status.RECEIVED
        return

    def completed():
        order = Order.objects.get(number=number)
        return order if order.status == Order.Status.COMPLETED else None

    order = wait_for(completed, timeout=60, message=f"order {number} to complete")
    assert order.total == quote.total and order.review_reasons == []
    page.goto(f"{live_server.url}/quotes/{quote.number}/")
    assert re.search(rf"Accepted: order {number}", page.content())
    shoot(page, "detail-accepted-en")


def sign_in_as_seller(page, live_server):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "seller")
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("main button[type=submit]")


def test_the_totals_panel_asks_the_server_only_when_the_form_changes(browser_page, live_server, shop, customer):
    """An open editor sent 14–20 price requests a second, idle, for as long as it was open (issue 12)."""
    page = browser_page
    priced = []
    page.on("request", lambda request: priced.append(request.url) if request.method == "POST" and "/quotes/price/" in request.url else None)
    sign_in_as_seller(page, live_server)
    page.goto(f"{live_server.url}/quotes/new/")

    page.wait_for_timeout(10_000)
    assert priced == [], f"{len(priced)} price requests in 10 idle seconds"

    page.fill("input[name=customer]", customer.code)  # one edit
    page.wait_for_timeout(1_500)
    assert len(priced) == 1
    page.select_option("select[name='lines-0-product']", str(shop["SRA-1Y"].pk))  # one edit: input and change
    page.wait_for_timeout(1_500)
    assert len(priced) == 2
    page.fill("input[name='lines-0-quantity']", "50")  # 50 × ¥5,400 = ¥270,000 + 10%
    page.wait_for_function("document.querySelector('#totals [data-total=total]')?.innerText === '¥297,000'")
    page.wait_for_timeout(1_500)
    assert len(priced) == 3
    page.click("button.save")
    page.wait_for_selector(".badge.status-draft")

    quote = Quote.objects.get()
    priced.clear()
    page.goto(f"{live_server.url}/quotes/{quote.number}/edit/")
    # The saved quote's totals and line prices come with the page, not from a request after it.
    assert total_shown(page) == "¥297,000" and page.locator("#row-0-unit").inner_text() == "¥5,400"
    page.wait_for_timeout(3_000)
    assert priced == []
    shoot(page, "editor-idle-ja")
