"""The backlog in headless Chromium, as staff clear a surge (issue 12): claims and take over, Next,
dense rows, bulk actions over all matching orders, approve and next, a helper's view.

No Celery worker runs here (unlike tests/test_backlog_browser.py): approved orders stay
approved, and nothing writes to the database while a test's data is cleared.
Screenshots go to $ORDERDESK_ARTIFACTS (default test-artifacts/).
"""

import re
from datetime import timedelta

import pytest

from orders.models import Order, ReviewReason
from tests.backlog_support import PASSWORD, held_order, make_staff
from tests.test_backlog_browser import browser, open_page, screenshot, sign_in, window  # noqa: F401 — Chromium and a 1366×900 window

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_an_order_someone_else_holds_has_its_actions_disabled_and_a_manager_takes_it_over(live_server, window, customer, catalog):
    order = held_order(customer, catalog, reasons=[ReviewReason.QUANTITY_OVER_CAP])
    holder = make_staff("sato", "helper")
    from orders.services.claims import order_claim

    order_claim(order=order, user=holder)
    desk = make_staff("tanaka", "order_desk", password=PASSWORD)
    boss = make_staff("suzuki", "manager", password=PASSWORD)

    sign_in(window, live_server, desk, next_path=f"/backlog/{order.number}/")
    assert "sato" in window.locator("#claim-holder").inner_text()
    assert window.locator("#approve-button").is_disabled() and window.locator("#reject-button").is_disabled()
    assert window.locator("#take-over-button").count() == 0
    screenshot(window, "detail-held-by-another-ja")

    window.context.clear_cookies()
    sign_in(window, live_server, boss, next_path=f"/backlog/{order.number}/")
    window.click("#take-over-button")
    window.wait_for_selector(".claim.mine")
    assert window.locator("#approve-button").is_enabled()
    assert Order.objects.get(pk=order.pk).claimed_by == boss


def test_next_returns_to_the_order_i_hold_instead_of_claiming_another(live_server, window, customer, catalog):
    first = held_order(customer, catalog, po_number="PO-FIRST", age=timedelta(hours=3))
    held_order(customer, catalog, po_number="PO-SECOND", age=timedelta(hours=2))
    user = make_staff("tanaka", "order_desk", password=PASSWORD)

    sign_in(window, live_server, user)
    window.keyboard.press("n")
    window.wait_for_url(re.compile(f"/backlog/{first.number}/$"))
    window.goto(f"{live_server.url}/backlog/")
    window.keyboard.press("n")
    window.wait_for_url(re.compile(f"/backlog/{first.number}/$"))

    assert first.number in window.locator(".messages").inner_text()
    assert Order.objects.filter(claimed_by=user).count() == 1


def test_rows_are_dense_by_default_and_comfortable_on_request_remembered_for_the_user(live_server, window, browser, customer, catalog):
    for i in range(30):
        held_order(customer, catalog, po_number=f"PO-D-{i}", age=timedelta(minutes=10 + i))
    user = make_staff("tanaka", "order_desk", password=PASSWORD)

    def visible_rows(page):
        return page.evaluate("() => [...document.querySelectorAll('tr[data-order-id]')].filter(r => r.getBoundingClientRect().bottom <= innerHeight).length")

    sign_in(window, live_server, user)
    dense = visible_rows(window)
    window.click("button[name=density][value=comfortable]")
    window.wait_for_selector("main.density-comfortable")
    comfortable = visible_rows(window)
    screenshot(window, "list-comfortable-ja")

    other_device = open_page(browser, width=1366, height=900, locale="ja-JP")
    sign_in(other_device, live_server, user)
    remembered = other_device.locator("main.density-comfortable").count()
    other_device.context.close()

    assert dense >= 20 and comfortable < dense, (dense, comfortable)
    assert remembered == 1


def test_a_bulk_reject_of_all_matching_orders_asks_for_the_reason_and_answers_on_the_same_page(live_server, window, customer, catalog, settings):
    settings.BACKLOG_PAGE_SIZE = 5
    matching = [held_order(customer, catalog, po_number=f"PO-ALL-{i}", age=timedelta(hours=20 - i)) for i in range(8)]
    other = held_order(customer, catalog, po_number="PO-CREDIT", reasons=[ReviewReason.OVER_CREDIT_LIMIT])
    user = make_staff("tanaka", "order_desk", password=PASSWORD)
    posted = []
    window.on("request", lambda request: posted.append(request.url) if request.method == "POST" and "/bulk/" in request.url else None)

    sign_in(window, live_server, user, next_path="/backlog/?reason=MANUAL_APPROVAL")
    window.check("[data-select-all]")
    window.click("[data-select-matching]")
    assert "8" in window.locator("[data-bulk-count]").inner_text()
    window.click("[data-bulk=reject]")  # no reason yet: asked for it, nothing sent
    assert window.locator("[data-bulk-ask]").is_visible() and posted == []
    assert window.evaluate("document.activeElement.matches('[data-bulk-reason]')")
    window.keyboard.type("重複注文のため")
    window.keyboard.press("Enter")

    window.wait_for_selector("[data-bulk-answer]")
    screenshot(window, "bulk-all-matching-ja")
    assert window.url.endswith("/backlog/?reason=MANUAL_APPROVAL")  # answered in place
    assert window.locator("tr[data-result=ok]").count() == 8 and len(posted) == 1
    assert {Order.objects.get(pk=o.pk).status for o in matching} == {Order.Status.REJECTED}
    assert Order.objects.get(pk=other.pk).status == Order.Status.NEEDS_REVIEW
    window.wait_for_function("!document.querySelector('tr[data-order-id]')")  # the list refreshed itself


def test_bulk_approve_over_a_rule_asks_for_the_reason_before_sending(live_server, window, customer, catalog):
    credit = held_order(customer, catalog, reasons=[ReviewReason.OVER_CREDIT_LIMIT])
    user = make_staff("tanaka", "order_desk", password=PASSWORD)
    posted = []
    window.on("request", lambda request: posted.append(request.url) if request.method == "POST" and "/bulk/" in request.url else None)

    sign_in(window, live_server, user)
    window.check(f"tr[data-order-id='{credit.pk}'] input[name=orders]")
    window.click("[data-bulk=approve]")

    assert window.locator("[data-bulk-ask]").is_visible() and posted == []
    window.fill("[data-bulk-reason]", "部長承認済み")
    window.click("[data-bulk=approve]")
    window.wait_for_selector("[data-bulk-answer]")
    assert Order.objects.get(pk=credit.pk).status == Order.Status.APPROVED


def test_approve_and_next_opens_the_next_order_and_the_counts_follow_the_filter(live_server, window, customer, catalog):
    first = held_order(customer, catalog, po_number="PO-1", age=timedelta(hours=3))
    second = held_order(customer, catalog, po_number="PO-2", age=timedelta(hours=2))
    # Not a credit hold: approving an order of the same customer may release those by itself.
    held_order(customer, catalog, po_number="PO-P", reasons=[ReviewReason.PRICE_DIFFERS_FROM_QUOTE], age=timedelta(hours=1))
    user = make_staff("tanaka", "order_desk", password=PASSWORD)

    sign_in(window, live_server, user, next_path=f"/backlog/{first.number}/")
    window.click("#approve-next-button")
    window.wait_for_url(re.compile(f"/backlog/{second.number}/$"))
    assert window.locator(".claim.mine").is_visible()
    assert Order.objects.get(pk=first.pk).status == Order.Status.APPROVED

    window.goto(f"{live_server.url}/backlog/")
    assert window.locator("a.count.total strong").inner_text() == "2"
    window.click("a.count.reason >> text=見積価格との不一致")
    window.wait_for_url(re.compile("reason=PRICE_DIFFERS_FROM_QUOTE"))
    assert window.locator("a.count.total strong").inner_text() == "1"
    assert window.locator("a.count.current").count() == 1


def test_a_helpers_backlog_opens_on_what_they_can_handle(live_server, window, customer, catalog):
    simple = held_order(customer, catalog, po_number="PO-SIMPLE", reasons=[ReviewReason.SUSPECTED_DUPLICATE])
    credit = held_order(customer, catalog, po_number="PO-CREDIT", reasons=[ReviewReason.OVER_CREDIT_LIMIT])
    failed = held_order(customer, catalog, po_number="PO-FAILED", status=Order.Status.FAILED, reasons=[])
    user = make_staff("sato", "helper", password=PASSWORD)

    sign_in(window, live_server, user)
    shown = {row.get_attribute("data-order-id") for row in window.locator("tr[data-order-id]").all()}
    assert shown == {str(simple.pk)}
    assert window.locator("select[name=scope]").input_value() == "handleable"
    screenshot(window, "helper-default-ja")

    window.select_option("select[name=scope]", "all")
    window.click(".filters button[type=submit]")
    window.wait_for_url(re.compile("scope=all"))
    shown = {row.get_attribute("data-order-id") for row in window.locator("tr[data-order-id]").all()}
    assert shown == {str(simple.pk), str(credit.pk), str(failed.pk)}
    assert window.locator(f"tr[data-order-id='{credit.pk}'] input[name=orders]").is_disabled()


def test_customer_payloads_stay_text_in_the_browser(live_server, window, catalog):
    from tests.factories import CustomerFactory

    customer = CustomerFactory(code="XSS", name="<img src=x onerror=alert('name')>株式会社")
    order = held_order(customer, catalog, po_number='<script>alert("po")</script>', notes="<svg onload=alert('notes')>")
    user = make_staff("tanaka", "order_desk", password=PASSWORD)
    dialogs = []
    window.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    sign_in(window, live_server, user)
    window.wait_for_timeout(300)
    assert "<script>alert" in window.locator(f"tr[data-order-id='{order.pk}'] td.po").inner_text()
    window.goto(f"{live_server.url}/backlog/{order.number}/")
    window.wait_for_timeout(300)

    assert dialogs == []
    assert window.locator("img[src=x], svg[onload]").count() == 0
    assert "<svg onload" in window.locator(".notes").inner_text()
