"""Co-terming (月割り): seats added to a running subscription end with it, priced for the whole months left."""

import json
from datetime import date, timedelta

import pytest

from licensing.models import Subscription
from licensing.pricing import Coterm, coterm, months_remaining, prorated_unit_price
from licensing.services import add_months, japan_today
from orders.models import Order
from orders.services.documents import order_quote_document
from orders.totals import order_totals
from tests.factories import provision, submitted_order

pytestmark = pytest.mark.django_db


def post_order(client, body):
    return client.post("/api/v1/orders/", data=json.dumps(body), content_type="application/json")


def running_subscription(customer, product, *, term_end: date) -> Subscription:
    """50 seats of `product` in a 12-month term ending on `term_end`."""
    term_start = add_months(term_end + timedelta(days=1), -12)
    provisioned = provision(customer, product, 50, f"first:{customer.code}:{product.sku}", term_start=term_start)
    subscription = provisioned.entry.subscription
    assert subscription.term_end == term_end
    return subscription


@pytest.mark.parametrize("months_left, unit_price", [(1, 500), (6, 3000), (11, 5500)])
def test_seats_added_to_a_running_subscription_cost_the_months_left(api, customer, catalog, months_left, unit_price):
    term_end = add_months(japan_today(), months_left) - timedelta(days=1)
    running_subscription(customer, catalog["SRA-1Y"], term_end=term_end)

    # 10 seats: the 1–49 tier's ¥6,000 a year, × months left / 12.
    response = post_order(api, {"po_number": f"PO-ADD-{months_left}", "lines": [{"sku": "SRA-1Y", "quantity": 10}]})

    assert response.status_code == 201, response.content
    line = response.json()["lines"][0]
    assert (line["unit_price"], line["amount"]) == (unit_price, unit_price * 10)
    assert (line["coterm_months"], line["coterm_until"]) == (months_left, term_end.isoformat())
    order = Order.objects.get(number=response.json()["number"])
    stored = order.lines.get()
    assert (stored.unit_price, stored.coterm_months, stored.coterm_until) == (unit_price, months_left, term_end)
    totals = order_totals(lines=order.lines.all(), discount=order.discount)
    assert (order.subtotal, order.tax, order.total) == (unit_price * 10, totals.tax, totals.total)
    assert response.json()["total"] == totals.total
    assert api.get(f"/api/v1/orders/{order.number}/").json()["lines"][0]["coterm_months"] == months_left

    # The PDF says what the price is: the months and the day the seats end.
    document = order_quote_document(order=order)
    until = f"{term_end.year}年{term_end.month}月{term_end.day}日まで"
    assert document.lines[0].note == f"月割り {months_left}ヶ月分（{until}）"
    assert document.lines[0].unit_price == unit_price
    assert document.total == order.total


def test_a_begun_month_counts_whole(api, customer, catalog, settings):
    term_end = add_months(japan_today(), 6) + timedelta(days=10)  # six months and some days left
    running_subscription(customer, catalog["SRA-1Y"], term_end=term_end)

    line = post_order(api, {"po_number": "PO-UP", "lines": [{"sku": "SRA-1Y", "quantity": 10}]}).json()["lines"][0]
    assert (line["coterm_months"], line["unit_price"]) == (7, 3500)

    settings.COTERM_MONTH_ROUNDING = "down"
    line = post_order(api, {"po_number": "PO-DOWN", "lines": [{"sku": "SRA-1Y", "quantity": 10}]}).json()["lines"][0]
    assert (line["coterm_months"], line["unit_price"]) == (6, 3000)


def test_the_first_seats_and_seats_after_the_term_ended_cost_a_full_term(api, customer, other_customer, catalog):
    running_subscription(other_customer, catalog["SRA-1Y"], term_end=add_months(japan_today(), 3))  # someone else's

    line = post_order(api, {"po_number": "PO-NEW", "lines": [{"sku": "SRA-1Y", "quantity": 10}]}).json()["lines"][0]
    assert (line["unit_price"], line["coterm_months"], line["coterm_until"]) == (6000, None, None)

    running_subscription(customer, catalog["SRA-1Y"], term_end=japan_today() - timedelta(days=1))
    line = post_order(api, {"po_number": "PO-LAPSED", "lines": [{"sku": "SRA-1Y", "quantity": 10}]}).json()["lines"][0]
    assert (line["unit_price"], line["coterm_months"]) == (6000, None)


def test_seats_starting_later_are_priced_from_their_start(customer, catalog):
    term_end = add_months(japan_today(), 9) - timedelta(days=1)
    running_subscription(customer, catalog["SRA-1Y"], term_end=term_end)

    order = submitted_order(customer, lines=[("SRA-1Y", 10)], requested_start=add_months(japan_today(), 3).isoformat())

    assert order.lines.get().coterm_months == 6
    assert order.lines.get().unit_price == 3000


def test_the_pro_rata_yen_are_rounded_as_the_setting_says(settings):
    seven_of_twelve = Coterm(months=7, term_months=12, term_end=date(2027, 3, 31))
    assert prorated_unit_price(1000, seven_of_twelve) == 583  # 583.33…, down by default
    settings.COTERM_PRICE_ROUNDING = "up"
    assert prorated_unit_price(1000, seven_of_twelve) == 584
    settings.COTERM_PRICE_ROUNDING = "half_up"
    assert prorated_unit_price(1000, Coterm(months=5, term_months=12, term_end=date(2027, 3, 31))) == 417  # 416.67
    assert prorated_unit_price(1000, None) == 1000


def test_months_remaining_by_the_calendar():
    term_end = date(2027, 3, 31)
    assert months_remaining(start=date(2027, 3, 1), term_end=term_end) == 1
    assert months_remaining(start=date(2027, 3, 31), term_end=term_end) == 1
    assert months_remaining(start=date(2026, 10, 1), term_end=term_end) == 6
    assert months_remaining(start=date(2026, 10, 15), term_end=term_end) == 6
    assert months_remaining(start=date(2026, 10, 15), term_end=term_end, rounding="down") == 5
    assert months_remaining(start=date(2026, 4, 1), term_end=term_end) == 12
    # A term ending on the last day of February, started on the 31st.
    assert months_remaining(start=date(2026, 12, 31), term_end=date(2027, 2, 27)) == 2
    assert coterm(start=date(2027, 4, 1), term_end=term_end, term_months=12) is None
    assert not coterm(start=date(2026, 4, 1), term_end=term_end, term_months=12).is_prorated


def test_a_batch_co_terms_each_customers_lines_with_its_own_subscription(customer, other_customer, catalog):
    from orderdesk.audit import Actor
    from orders.services.intake import Submission, orders_submit

    term_end = add_months(japan_today(), 6) - timedelta(days=1)
    running_subscription(customer, catalog["SRA-1Y"], term_end=term_end)
    body = {"po_number": "PO-BATCH", "lines": [{"sku": "SRA-1Y", "quantity": 10}, {"sku": "RDA-1Y", "quantity": 5}]}

    mine, theirs = orders_submit(
        submissions=[Submission(customer=customer, data=body), Submission(customer=other_customer, data=body)],
        actor=Actor.system("test"), source=Order.Source.IMPORT,
    )  # fmt: skip

    assert [(line.sku, line.coterm_until) for line in mine.lines.order_by("position")] == [("SRA-1Y", term_end), ("RDA-1Y", None)]
    assert mine.lines.get(sku="SRA-1Y").unit_price < theirs.lines.get(sku="SRA-1Y").unit_price
    assert [line.coterm_until for line in theirs.lines.all()] == [None, None]
