"""In headless Chromium: the order desk opens a customer from the backlog's order page and sees the seat charts."""

from datetime import date, time, timedelta

import pytest

from django.utils import timezone

from licensing.models import ClosedPeriod, LicenseKey, OutsideHoursValidation, Subscription
from licensing.validation import license_check
from tests.factories import OrderFactory, WorkHoursPolicyFactory, staff_user
from tests.test_customer_pages import add_seats
from tests.test_quotes_browser import ARTIFACTS, PASSWORD, browser_page  # noqa: F401 — the Chromium page fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_the_order_desk_opens_the_customer_and_sees_a_seat_chart_per_product(browser_page, live_server, customer, catalog):
    sra = Subscription.objects.create(customer=customer, product=catalog["SRA-1Y"], term_start=date(2026, 4, 1), term_end=date(2027, 3, 31))
    rda = Subscription.objects.create(customer=customer, product=catalog["RDA-1Y"], term_start=date(2026, 4, 1), term_end=date(2027, 3, 31))
    for subscription, quantity, day, reference in [
        (sra, 50, date(2026, 4, 1), "order-line:1"), (rda, 30, date(2026, 4, 1), "order-line:2"),
        (sra, 150, date(2026, 6, 10), "order-line:3"), (rda, 120, date(2026, 6, 10), "order-line:4"),
        (sra, -20, date(2026, 9, 1), "correction:1"), (sra, 40, date(2026, 11, 16), "order-line:5"),
    ]:
        add_seats(subscription, quantity, day, reference)
    WorkHoursPolicyFactory(customer=customer, start_time=time(22, 0), end_time=time(6, 0), mode="block")
    ClosedPeriod.objects.create(customer=customer, name="年末年始", first_day=date(2026, 12, 29), last_day=date(2027, 1, 3))
    key = LicenseKey.objects.create(subscription=sra, key="SRA2-2222-3333-4444-5555", reference="order-line:1")
    for hours_ago in (3, 5, 30):
        license_check(key=key.key, at=timezone.now() - timedelta(hours=hours_ago))
    order = OrderFactory(customer=customer)
    staff_user("desk", "order_desk", password=PASSWORD)
    page = browser_page

    page.goto(f"{live_server.url}/accounts/login/?next=/backlog/{order.number}/")
    page.fill("input[name=username]", "desk")
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("main button[type=submit]")
    with page.expect_navigation():
        page.click(f"aside a[href='/customers/{customer.code}/']")

    assert page.url.endswith(f"/customers/{customer.code}/")
    charts = page.locator("figure.seat-chart svg")
    assert charts.count() == 2
    sra_chart = page.locator("#subscription-SRA-1Y svg")
    assert sra_chart.is_visible() and sra_chart.bounding_box()["width"] > 400
    assert page.locator("#subscription-SRA-1Y circle").count() == 4
    assert page.locator("#subscription-SRA-1Y .big").inner_text() == "220"
    recorded = OutsideHoursValidation.objects.filter(customer=customer).count()
    assert recorded >= 1 and page.locator(".work-hours strong.big").inner_text() == str(recorded)
    assert "22:00–06:00" in page.locator(".work-hours").inner_text()
    page.screenshot(path=str(ARTIFACTS / "customer-seat-charts.png"), full_page=True)
