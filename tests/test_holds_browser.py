"""A held order's page in headless Chromium: what holds it, what would release it, its duplicate pair.

At 1366×900 in Japanese and English; screenshots go to $ORDERDESK_ARTIFACTS
(default test-artifacts/) as holds-*.png.
"""

import re
from datetime import timedelta

import pytest

from orders.models import Order, ReviewReason
from tests.backlog_support import held_order, make_staff
from tests.test_backlog_browser import ARTIFACTS, browser, sign_in  # noqa: F401 — the Chromium fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page_in(browser):  # noqa: F811
    contexts = []

    def open_page():
        context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="ja-JP")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield open_page
    for context in contexts:
        context.close()


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"holds-{name}.png"), full_page=True)


@pytest.fixture
def held_pair(customer, catalog):
    customer.credit_limit = 400_000
    customer.save()
    original = held_order(
        customer, catalog, reasons=[ReviewReason.MANUAL_APPROVAL], po_number="PO-2026-0412", lines=[("SRA-1Y", 50)], age=timedelta(minutes=30)
    )
    again = held_order(
        customer,
        catalog,
        reasons=[ReviewReason.OVER_CREDIT_LIMIT, ReviewReason.SUSPECTED_DUPLICATE],
        po_number="ＰＯ－２０２６－０４１２ 再送",
        lines=[("SRA-1Y", 50)],
        age=timedelta(minutes=25),
    )
    again.possible_duplicates.add(original)
    Order.objects.filter(pk=original.pk).update(status=Order.Status.APPROVED)  # its ¥297,000 counts now
    original.status = Order.Status.APPROVED
    return original, again


@pytest.mark.parametrize(("language", "found", "release"), [
    ("ja", "与信限度額を¥194,000超過", "解除するには"),
    ("en", "Over the credit limit by ¥194,000", "To release:"),
])  # fmt: skip
def test_a_held_order_says_what_holds_it_and_what_would_release_it(live_server, page_in, held_pair, language, found, release):
    original, again = held_pair
    user = make_staff("tanaka", "order_desk", password="pw-for-tests")
    page = page_in()
    sign_in(page, live_server, user, next_path=f"/backlog/{again.number}/")
    if language == "en":
        page.click("button[name=language][value=en]")
        page.wait_for_url(re.compile(f"/backlog/{again.number}/$"))

    reasons = page.locator(".hold-reasons")
    assert found in reasons.inner_text()
    assert release in reasons.inner_text()
    credit = page.locator("[data-credit-exposure]")
    assert credit.get_attribute("data-credit-exposure") == str(original.total + again.total)
    assert page.locator(f'#duplicates a[href="/backlog/{original.number}/"]').is_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the window"
    shoot(page, f"order-{language}")


def test_keep_one_of_the_pair_from_the_browser(live_server, page_in, held_pair):
    original, again = held_pair
    Order.objects.filter(pk=original.pk).update(status=Order.Status.NEEDS_REVIEW)
    user = make_staff("tanaka", "order_desk", password="pw-for-tests")
    page = page_in()
    sign_in(page, live_server, user, next_path=f"/backlog/{original.number}/")
    page.click("button[name=language][value=en]")
    page.wait_for_url(re.compile(f"/backlog/{original.number}/$"))

    page.get_by_role("button", name=f"Keep this order, reject {again.number}").click()

    page.wait_for_selector(".messages, .message, [role=status]", state="attached")
    assert Order.objects.get(pk=again.pk).status == Order.Status.REJECTED
    assert Order.objects.get(pk=again.pk).status_reason == f"duplicate of {original.number}"
    shoot(page, "kept-one-en")
