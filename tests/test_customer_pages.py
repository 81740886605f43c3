"""The staff pages of customers: the seat chart per product from the ledger, the work-hours policy and record."""

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User

from licensing.charts import seat_chart
from licensing.models import ClosedPeriod, LicenseKey, OutsideHoursValidation, SeatLedgerEntry, Subscription
from licensing.selectors import customer_ledgers
from tests.factories import CustomerFactory, OrderFactory, WorkHoursPolicyFactory, staff_user

pytestmark = pytest.mark.django_db

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=TOKYO)


def add_seats(subscription, quantity: int, day: date, reference: str) -> SeatLedgerEntry:
    # The ledger is append-only: entries are created with the moment they happened, never changed.
    return SeatLedgerEntry.objects.create(
        subscription=subscription, quantity=quantity, reference=reference, reason=f"test {reference}",
        created_at=datetime.combine(day, time(10, 0), tzinfo=TOKYO),
    )


@pytest.fixture
def history(customer, catalog):
    """SRA-1Y: +50 on 2026-04-01, +30 on 2026-07-01, −5 on 2026-10-01 (75 now); RDA-1Y: +20 on 2026-05-15."""
    sra = Subscription.objects.create(customer=customer, product=catalog["SRA-1Y"], term_start=date(2026, 4, 1), term_end=date(2027, 3, 31))
    rda = Subscription.objects.create(customer=customer, product=catalog["RDA-1Y"], term_start=date(2026, 5, 15), term_end=date(2027, 3, 31))
    add_seats(sra, 50, date(2026, 4, 1), "order-line:1")
    add_seats(sra, 30, date(2026, 7, 1), "order-line:2")
    add_seats(sra, -5, date(2026, 10, 1), "correction:1")
    add_seats(rda, 20, date(2026, 5, 15), "order-line:3")
    LicenseKey.objects.create(subscription=sra, key="SRA2-2222-3333-4444-5555", reference="order-line:1")
    return {"SRA-1Y": sra, "RDA-1Y": rda}


@pytest.fixture
def desk(client):
    client.force_login(staff_user("desk", "order_desk"))
    return client


def test_the_chart_is_a_step_line_through_the_ledgers_running_seats(history):
    entries = customer_ledgers(customer=history["SRA-1Y"].customer)[history["SRA-1Y"].pk]
    chart = seat_chart(entries, now=NOW, term_end=date(2027, 3, 31))

    assert [(point.change, point.seats) for point in chart.points] == [(50, 50), (30, 80), (-5, 75)]
    xs, ys = [point.x for point in chart.points], [point.y for point in chart.points]
    assert xs == sorted(xs) and chart.plot_left <= xs[0] and xs[-1] <= chart.plot_right
    assert ys[1] < ys[2] < ys[0] < chart.plot_bottom  # 80 highest, then 75, then 50 (SVG's y grows downwards)
    # Up from zero at the first entry, then flat until each next entry and straight to its level.
    bottom = float(chart.plot_bottom)
    assert chart.line == f"M {xs[0]} {bottom} V {ys[0]} H {xs[1]} V {ys[1]} H {xs[2]} V {ys[2]} H {chart.today_x}"
    assert [tick.label for tick in chart.seat_ticks] == ["0", "20", "40", "60", "80"]
    assert chart.term_end_x is not None and chart.today_x < chart.term_end_x


def test_no_ledger_no_chart():
    assert seat_chart([], now=NOW) is None


def test_the_customer_page_draws_one_chart_per_product_from_the_ledger(desk, customer, history):
    response = desk.get(f"/customers/{customer.code}/")

    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('<figure class="seat-chart">') == 2
    assert "cdn" not in html.lower() and "<script src=\"http" not in html
    sra = html[html.index('id="subscription-SRA-1Y"'):]
    sra = sra[: sra.index("</section>")]
    assert len(re.findall(r"<circle ", sra)) == 3
    assert "+30 → 80" in sra and "-5 → 75" in sra
    assert ">75<" in sra  # the current seats
    assert "SRA2-2222-3333-4444-5555" not in html  # staff see how many keys, not the keys themselves


def test_a_customer_without_subscriptions_has_no_chart(desk):
    newcomer = CustomerFactory(code="NEW", name="株式会社ニューカマー")

    html = desk.get(f"/customers/{newcomer.code}/").content.decode()

    assert "<svg" not in html and "株式会社ニューカマー" in html


def test_the_page_shows_the_work_hours_policy_and_the_records_count(desk, customer, history):
    WorkHoursPolicyFactory(customer=customer, start_time=time(22, 0), end_time=time(6, 0))
    ClosedPeriod.objects.create(customer=customer, name="年末年始", first_day=date(2026, 12, 29), last_day=date(2027, 1, 3))
    key = LicenseKey.objects.get()
    for _ in range(3):
        OutsideHoursValidation.objects.create(customer=customer, license_key=key, at=datetime.now(TOKYO) - timedelta(days=1),
                                              time_zone="Asia/Tokyo", mode="warn", allowed=True)

    html = desk.get(f"/customers/{customer.code}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "22:00–06:00" in html and "年末年始" in html and "12-29 – 01-03" in html
    assert re.search(r'<strong class="big">3</strong>', html)


@pytest.mark.parametrize("role", ["sales", "order_desk", "helper", "manager"])
def test_every_staff_role_sees_customer_pages(client, customer, history, role):
    client.force_login(staff_user(f"user-{role}", role))

    assert client.get("/customers/").status_code == 200
    assert client.get(f"/customers/{customer.code}/").status_code == 200


def test_customer_pages_need_sign_in_and_a_role(client, customer):
    anonymous = client.get(f"/customers/{customer.code}/")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]

    client.force_login(User.objects.create_user("nobody", password="pw"))
    assert client.get(f"/customers/{customer.code}/").status_code == 403
    assert client.get("/customers/").status_code == 403


def test_an_unknown_customer_is_404(desk):
    assert desk.get("/customers/NOPE/").status_code == 404


def test_the_customer_list_finds_by_code_or_name(desk, customer, other_customer):
    by_name = desk.get("/customers/", {"q": "オーナー"}).content.decode()
    by_code = desk.get("/customers/", {"q": "outsider"}).content.decode()

    assert f'href="/customers/{customer.code}/"' in by_name and other_customer.code not in by_name
    assert f'href="/customers/{other_customer.code}/"' in by_code and f'/customers/{customer.code}/' not in by_code


def test_the_backlogs_customer_card_and_the_admin_link_to_the_page(desk, client, customer, history):
    order = OrderFactory(customer=customer)

    assert f'href="/customers/{customer.code}/"' in desk.get(f"/backlog/{order.number}/").content.decode()
    client.force_login(User.objects.create_superuser("boss", "boss@example.jp", "pw-not-used"))
    admin_page = client.get(f"/admin/licensing/customer/{customer.pk}/change/").content.decode()
    assert f"/customers/{customer.code}/" in admin_page  # "view on site"
