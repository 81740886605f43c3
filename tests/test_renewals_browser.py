"""In headless Chromium: sales open the renewals, draft a renewal quote with one click and land on it."""

from datetime import timedelta

import pytest

from licensing.services import japan_today
from quotes.models import Quote
from tests.factories import CustomerFactory, staff_user
from tests.test_quotes_browser import ARTIFACTS, PASSWORD, browser_page  # noqa: F401 — the Chromium page fixture
from tests.test_renewals import subscription_ending

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_sales_draft_a_renewal_quote_from_the_renewals(browser_page, live_server, customer, catalog):
    today = japan_today()
    subscription = subscription_ending(customer, catalog["SRA-1Y"], today + timedelta(days=6), reference="order-line:1").entry.subscription
    later = CustomerFactory(code="LATER", name="株式会社レイター")
    subscription_ending(later, catalog["SRA-1Y"], today + timedelta(days=75), reference="order-line:2")
    staff_user("sales1", "sales", password=PASSWORD)
    page = browser_page

    page.goto(f"{live_server.url}/accounts/login/?next=/renewals/")
    page.fill("input[name=username]", "sales1")
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("main button[type=submit]")
    assert page.locator("table.renewals tbody tr").count() == 2
    page.screenshot(path=str(ARTIFACTS / "renewals-list.png"), full_page=True)

    with page.expect_navigation():
        page.locator("table.renewals tbody tr").first.locator("button[type=submit]").click()

    quote = Quote.objects.get(renews=subscription)
    assert page.url.endswith(f"/quotes/{quote.number}/")
    page.goto(f"{live_server.url}/renewals/")
    assert quote.number in page.locator("table.renewals tbody tr").first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "renewals-list-with-quote.png"), full_page=True)
