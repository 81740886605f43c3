"""The order feed: every order newest first, searched and filtered, paged by keyset, and live."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from control.digest import day_bounds
from orders.models import Order, ReviewReason
from tests.control_support import placed_order
from tests.factories import CustomerFactory, staff_user

pytestmark = pytest.mark.django_db
Status = Order.Status


@pytest.fixture
def manager_client(client):
    client.force_login(staff_user("boss", "manager"))
    return client


def numbers(response) -> list[str]:
    assert response.status_code == 200, response.content[:500]
    return re.findall(r'data-order="([^"]+)"', response.content.decode())


def link(response, rel: str) -> str:
    found = re.search(rf'href="\?([^"]*)" rel="{rel}"', response.content.decode())
    return "?" + found.group(1).replace("&amp;", "&") if found else ""


@pytest.fixture
def twelve(customer):
    """Twelve orders a minute apart, F-00 the oldest, in every kind of status."""
    now = timezone.now()
    statuses = [Status.COMPLETED, Status.NEEDS_REVIEW, Status.RECEIVED, Status.FAILED, Status.REJECTED, Status.CANCELLED]
    return [
        placed_order(customer, created=now - timedelta(minutes=12 - i), status=statuses[i % 6], number=f"F-{i:02d}", po_number=f"PO-FEED-{i:02d}",
                     reasons=[ReviewReason.MANUAL_APPROVAL] if statuses[i % 6] == Status.NEEDS_REVIEW else [])  # fmt: skip
        for i in range(12)
    ]


def test_every_order_newest_first_each_opening_its_page(manager_client, twelve, settings):
    response = manager_client.get("/orders/")
    assert numbers(response) == [f"F-{i:02d}" for i in range(11, -1, -1)]
    assert 'href="/backlog/F-07/"' in response.content.decode()


def test_pages_go_by_keyset_and_an_order_arriving_meanwhile_shifts_nothing(manager_client, twelve, customer, settings):
    settings.FEED_PAGE_SIZE = 5
    first = manager_client.get("/orders/")
    assert numbers(first) == ["F-11", "F-10", "F-09", "F-08", "F-07"]
    assert link(first, "prev") == ""
    placed_order(customer, created=timezone.now(), number="F-NEW")  # arrives while the manager reads page one

    second = manager_client.get("/orders/" + link(first, "next"))
    assert numbers(second) == ["F-06", "F-05", "F-04", "F-03", "F-02"]
    third = manager_client.get("/orders/" + link(second, "next"))
    assert numbers(third) == ["F-01", "F-00"]
    assert link(third, "next") == ""
    back = manager_client.get("/orders/" + link(third, "prev"))
    assert numbers(back) == ["F-06", "F-05", "F-04", "F-03", "F-02"]
    newest = manager_client.get("/orders/" + link(manager_client.get("/orders/" + link(back, "prev")), "prev"))
    assert numbers(newest)[0] == "F-NEW"


@pytest.mark.parametrize(
    "query, expected",
    [
        ("q=f-03", ["F-03"]),  # the order number, in any case
        ("q=FEED-1", ["F-11", "F-10"]),  # part of the PO number
        ("status=failed", ["F-09", "F-03"]),
        ("status=open", ["F-09", "F-08", "F-07", "F-03", "F-02", "F-01"]),
        ("status=completed&q=PO-FEED-06", ["F-06"]),
    ],
)
def test_search_and_filters(manager_client, twelve, query, expected):
    assert numbers(manager_client.get(f"/orders/?{query}")) == expected


def test_search_by_customer_and_filter_by_source(manager_client, twelve):
    other = CustomerFactory(code="ACME", name="アクメ商事株式会社")
    placed_order(other, created=timezone.now(), number="A-1", source=Order.Source.IMPORT)
    assert numbers(manager_client.get("/orders/?q=アクメ")) == ["A-1"]
    assert numbers(manager_client.get("/orders/?q=acme")) == ["A-1"]
    assert numbers(manager_client.get("/orders/?source=import")) == ["A-1"]


def test_dates_are_japan_days(manager_client, customer):
    day = timezone.localdate() - timedelta(days=3)
    start, end = day_bounds(day)
    placed_order(customer, created=start - timedelta(seconds=1), number="BEFORE")
    placed_order(customer, created=start, number="FIRST")
    placed_order(customer, created=end - timedelta(seconds=1), number="LAST")
    placed_order(customer, created=end, number="AFTER")
    iso = day.isoformat()
    assert numbers(manager_client.get(f"/orders/?received_from={iso}&received_to={iso}")) == ["LAST", "FIRST"]


@pytest.mark.parametrize(
    "query, message",
    [
        ("before=not-a-cursor", "This page link is damaged"),
        ("received_from=2026-13-01", "Received from"),
        ("received_from=2026-11-02&received_to=2026-11-01", "The end date is before the start date."),
        ("status=lost", "Status"),
    ],
)
def test_a_bad_parameter_is_named_and_shows_no_orders(manager_client, twelve, query, message, settings):
    settings.LANGUAGE_CODE = "en"
    response = manager_client.get(f"/orders/?{query}")
    assert response.status_code == 400
    assert message in response.content.decode()
    assert "data-order=" not in response.content.decode()


# --- Live mode ----------------------------------------------------------------------------


def newest_cursor(response) -> str:
    return re.search(r"after=([0-9.]+)", response.content.decode()).group(1)


def test_live_mode_polls_for_orders_newer_than_the_top_row(manager_client, twelve, customer):
    page = manager_client.get("/orders/?live=1")
    assert 'id="feed-poller"' in page.content.decode()
    cursor = newest_cursor(page)

    quiet = manager_client.get(f"/orders/?live=1&after={cursor}", HTTP_HX_REQUEST="true")
    assert quiet.status_code == 204

    placed_order(customer, created=timezone.now(), number="LIVE-1", status=Status.RECEIVED)
    placed_order(customer, created=timezone.now(), number="LIVE-2", status=Status.COMPLETED)
    arrivals = manager_client.get(f"/orders/?live=1&after={cursor}", HTTP_HX_REQUEST="true")
    body = arrivals.content.decode()
    assert numbers(arrivals) == ["LIVE-2", "LIVE-1"]
    assert 'hx-swap-oob="afterbegin:#feed-rows"' in body
    assert newest_cursor(arrivals) != cursor  # the next poll asks for what came after LIVE-2
    again = manager_client.get(f"/orders/?live=1&after={newest_cursor(arrivals)}", HTTP_HX_REQUEST="true")
    assert again.status_code == 204


def test_live_mode_keeps_the_filters(manager_client, twelve, customer):
    cursor = newest_cursor(manager_client.get("/orders/?live=1&status=failed"))
    placed_order(customer, created=timezone.now(), number="LIVE-OK", status=Status.COMPLETED)
    placed_order(customer, created=timezone.now(), number="LIVE-BAD", status=Status.FAILED)
    arrivals = manager_client.get(f"/orders/?live=1&status=failed&after={cursor}", HTTP_HX_REQUEST="true")
    assert numbers(arrivals) == ["LIVE-BAD"]


def test_live_mode_says_when_more_arrived_than_it_shows(manager_client, twelve, customer, settings):
    settings.FEED_PAGE_SIZE = 5
    cursor = newest_cursor(manager_client.get("/orders/?live=1"))
    for i in range(7):
        placed_order(customer, created=timezone.now() + timedelta(seconds=i), number=f"SURGE-{i}")
    arrivals = manager_client.get(f"/orders/?live=1&after={cursor}", HTTP_HX_REQUEST="true")
    assert numbers(arrivals) == [f"SURGE-{i}" for i in range(6, 1, -1)]
    assert "more-arrived" in arrivals.content.decode()


def test_live_mode_runs_only_on_the_newest_page(manager_client, twelve, settings):
    settings.FEED_PAGE_SIZE = 5
    first = manager_client.get("/orders/?live=1")
    older = manager_client.get("/orders/" + link(first, "next"))
    assert 'id="feed-poller"' not in older.content.decode()
