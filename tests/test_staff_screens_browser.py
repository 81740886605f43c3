"""The staff pages as a person sees them at 1366×900, in Japanese and English (headless Chromium).

A realistic backlog (thirty orders from five customers, long names, every kind
of reason, claims), an order, a quote. Each page is checked for what went wrong
in a surge: rows that do not fit, cards wider than the window, headings on top
of text. Screenshots go to $ORDERDESK_ARTIFACTS (default test-artifacts/).
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import provision
from orders.models import Order, ReviewReason
from tests.backlog_support import PASSWORD, held_order, make_staff
from tests.factories import CustomerFactory, draft_quote
from tests.test_backlog_browser import ARTIFACTS, browser, sign_in, window  # noqa: F401 — Chromium and a 1366×900 window

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REASON_MIX = [
    [ReviewReason.MANUAL_APPROVAL],
    [ReviewReason.QUANTITY_OVER_CAP],
    [ReviewReason.SUSPECTED_DUPLICATE],
    [ReviewReason.OVER_CREDIT_LIMIT],
    [ReviewReason.OVER_CREDIT_LIMIT, ReviewReason.MANUAL_APPROVAL],
    [ReviewReason.ADDON_EXCEEDS_BASE],
    [ReviewReason.PRICE_DIFFERS_FROM_QUOTE],
]
NAMES = ["株式会社サンプル商事", "テレワーク工業株式会社", "公益財団法人マニュアル承認", "有限会社スモール（与信枠小）", "ＡＢＣホールディングス株式会社 東日本営業本部"]


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"screen-{name}.png"))


def switch_language(page, code: str) -> None:
    page.click(f"button[name=language][value={code}]")
    page.wait_for_selector(f"html[lang={code}]")


@pytest.fixture
def surge(catalog):
    customers = [CustomerFactory(code=f"C{i}", name=name) for i, name in enumerate(NAMES)]
    orders = []
    for i in range(30):
        reasons = REASON_MIX[i % len(REASON_MIX)]
        lines = [("SRA-1Y", 1200 if ReviewReason.QUANTITY_OVER_CAP in reasons else 50 + i), ("RDA-1Y", 20 + i)][: 1 + i % 2]
        orders.append(
            held_order(customers[i % 5], catalog, reasons=reasons, lines=lines, po_number=f"PO-2026-{i:04d}", age=timedelta(minutes=30 + 47 * i))
        )
    orders.append(held_order(customers[0], catalog, status=Order.Status.FAILED, reasons=[], po_number="PO-FAILED", age=timedelta(hours=30)))
    colleague = make_staff("yamada", "order_desk")
    Order.objects.filter(pk=orders[3].pk).update(claimed_by=colleague, claimed_at=timezone.now())
    provision(customers[0], catalog["SRA-1Y"], 120, "earlier-1", reason="earlier")
    provision(customers[0], catalog["RDA-1Y"], 40, "earlier-2", reason="earlier")
    return {"customers": customers, "orders": orders}


def rows_in_view(page) -> int:
    """How many backlog rows are entirely inside the window, as loaded (no scrolling)."""
    return page.evaluate(
        "() => [...document.querySelectorAll('tr[data-order-id]')].filter(row => row.getBoundingClientRect().bottom <= window.innerHeight).length"
    )


def overflowing_cards(page) -> list[str]:
    """Cards (and the page) that reach past the right edge of the window."""
    return page.evaluate(
        """() => {
          const wide = [...document.querySelectorAll('.card, main')].filter(el => el.getBoundingClientRect().right > window.innerWidth + 0.5);
          const page = document.documentElement.scrollWidth > window.innerWidth ? ['the page scrolls sideways'] : [];
          return page.concat(wide.map(el => (el.querySelector('h2') || el).textContent.trim().slice(0, 40)));
        }"""
    )


def overlap(page, first: str, second: str) -> bool:
    return page.evaluate(
        """([a, b]) => {
          const r = document.querySelector(a).getBoundingClientRect(), s = document.querySelector(b).getBoundingClientRect();
          return r.left < s.right && s.left < r.right && r.top < s.bottom && s.top < r.bottom;
        }""",
        [first, second],
    )


def test_the_backlog_order_and_quote_pages_at_1366_in_japanese_and_english(live_server, window, surge, catalog):
    page = window
    user = make_staff("tanaka", "order_desk", password=PASSWORD)
    seller = make_staff("seller", "sales", password=PASSWORD)
    order = surge["orders"][0]
    quote = draft_quote(
        customer=surge["customers"][0], lines=[(catalog["SRA-1Y"], 50, 5, 0), (catalog["RDA-1Y"], 50)], discount=1000,
        notes="ライセンスはご発注後5営業日以内に発行いたします。\n請求書は月末にお送りします。",
    )  # fmt: skip

    sign_in(page, live_server, user)
    for language in ("ja", "en"):
        if language == "en":
            switch_language(page, "en")
        page.goto(f"{live_server.url}/backlog/")
        assert page.locator("main.density-dense").count() == 1  # the default
        assert rows_in_view(page) >= 20, f"{rows_in_view(page)} orders fit ({language})"
        heights = page.evaluate("() => [...document.querySelectorAll('tr[data-order-id]')].map(row => row.getBoundingClientRect().height)")
        assert max(heights) - min(heights) < 1, f"rows of different heights: a name or reason wrapped ({language})"
        shoot(page, f"backlog-dense-{language}")
        page.goto(f"{live_server.url}/backlog/{order.number}/")
        assert overflowing_cards(page) == [], language
        shoot(page, f"order-{language}")

    page.context.clear_cookies()
    sign_in(page, live_server, seller, next_path=f"/quotes/{quote.number}/")
    for language in ("ja", "en"):
        if language == "en":
            switch_language(page, "en")
        page.goto(f"{live_server.url}/quotes/{quote.number}/")
        assert not overlap(page, ".quote-facts h3", ".quote-facts dl"), f"the notes heading covers the facts ({language})"
        assert overflowing_cards(page) == [], language
        shoot(page, f"quote-{language}")
