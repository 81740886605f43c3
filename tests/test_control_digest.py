"""The managers' daily digest: the numbers of a seeded day, in each manager's language, once a day."""

from datetime import date, datetime, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from control.digest import day_bounds, day_digest, digest_recipients, digest_send
from control.models import DigestDelivery
from control.rollups import orders_rollup
from control.tasks import send_daily_digest
from orderdesk.models import UserPreference
from orders.models import Order, ReviewReason
from tests.control_support import placed_order
from tests.factories import CustomerFactory, staff_user

pytestmark = pytest.mark.django_db
Status = Order.Status
DAY = timezone.localdate() - timedelta(days=1)


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    return day_bounds(day)[0] + timedelta(hours=hour, minutes=minute)


@pytest.fixture
def seeded_day(customer, other_customer, catalog, settings):
    """Yesterday in Japan time: six orders from two customers, and one each side of the day."""
    settings.DASHBOARD_ROLLUP_BACKFILL_DAYS = 3
    sra, rda = catalog["SRA-1Y"], catalog["RDA-1Y"]
    completed = dict(status=Status.COMPLETED)
    placed_order(customer, created=at(0, 5), changed=at(0, 6), lines=[(sra, 50, 270_000), (rda, 50, 135_000)], total=445_500, **completed)
    placed_order(customer, created=at(9, 0), changed=at(9, 10), lines=[(sra, 10, 60_000)], total=66_000, **completed)
    placed_order(other_customer, created=at(13, 0), changed=at(15, 0), lines=[(sra, 100, 480_000)], total=528_000,
                 reasons=[ReviewReason.MANUAL_APPROVAL], **completed)  # fmt: skip
    placed_order(other_customer, created=at(14, 0), status=Status.REJECTED, changed=at(16, 0), lines=[(sra, 5, 30_000)],
                 total=33_000, reasons=[ReviewReason.OVER_CREDIT_LIMIT])  # fmt: skip
    placed_order(customer, created=at(22, 0), status=Status.NEEDS_REVIEW, lines=[(rda, 20, 60_000)], total=66_000,
                 reasons=[ReviewReason.QUANTITY_OVER_CAP], source=Order.Source.IMPORT)  # fmt: skip
    placed_order(customer, created=at(23, 30), status=Status.FAILED, changed=at(23, 40), lines=[(sra, 3, 18_000)], total=19_800)
    placed_order(customer, created=at(23, 59, DAY - timedelta(days=1)), changed=at(0, 1), lines=[(sra, 1, 6_000)], total=6_600, **completed)
    placed_order(customer, created=at(0, 1, DAY + timedelta(days=1)), lines=[(sra, 7, 42_000)], total=46_200)
    orders_rollup()


def test_the_digest_counts_the_day_in_japan_time(seeded_day, customer, other_customer):
    digest = day_digest(day=DAY)

    assert digest.received == 6
    assert digest.received_by_source == {"api": 5, "import": 1}
    assert (digest.orders, digest.total) == (5, 445_500 + 66_000 + 528_000 + 66_000 + 19_800)  # the rejected one left out
    assert digest.seats == 50 + 50 + 10 + 100 + 20 + 3
    assert (digest.completed, digest.completed_total) == (4, 6_600 + 445_500 + 66_000 + 528_000)  # one from the day before
    assert (digest.rejected, digest.cancelled) == (1, 0)
    assert (digest.straight_through, digest.held, round(digest.straight_through_percent, 1)) == (2, 3, 40.0)
    assert (digest.failed_during_day, digest.failed_now) == (1, 1)
    assert (digest.open_at_end, digest.backlog_at_end) == (2, None)  # the backlog is counted only while a span is current
    products = {line.sku: (line.orders, line.seats, line.amount) for line in digest.products}
    assert products == {"SRA-1Y": (4, 163, 270_000 + 60_000 + 480_000 + 18_000), "RDA-1Y": (2, 70, 135_000 + 60_000)}
    customers = [(line.code, line.orders, line.seats, line.total) for line in digest.customers]
    assert customers == [("OWNER", 4, 133, 445_500 + 66_000 + 66_000 + 19_800), ("OUTSIDER", 1, 100, 528_000)]  # largest first
    assert digest.p50_seconds is not None and digest.p95_seconds is not None


def test_each_manager_gets_it_once_in_the_language_they_chose(seeded_day):
    japanese = staff_user("sato", "manager")
    japanese.email = "sato@example.jp"
    japanese.save()
    english = staff_user("smith", "manager")
    english.email = "smith@example.jp"
    english.save()
    UserPreference.objects.create(user=english, language="en")
    staff_user("nomail", "manager")  # no address: nobody to send to
    desk = staff_user("desk", "order_desk")
    desk.email = "desk@example.jp"
    desk.save()

    assert digest_send(day=DAY) == 2
    assert digest_send(day=DAY) == 0  # a second run (beat restarted, a message delivered twice) sends nothing

    by_recipient = {message.to[0]: message for message in mail.outbox}
    assert set(by_recipient) == {"sato@example.jp", "smith@example.jp"}
    ja, en = by_recipient["sato@example.jp"], by_recipient["smith@example.jp"]
    assert "日次" in ja.subject and "受注件数" in ja.body and "¥1,125,300" in ja.body
    assert "daily digest" in en.subject and "Orders received: 6" in en.body and "¥1,125,300" in en.body
    html = dict((alternative[1], alternative[0]) for alternative in en.alternatives)["text/html"]
    assert 'data-customer="OUTSIDER"' in html and "¥528,000" in html


def test_the_beat_task_sends_yesterdays_digest(seeded_day):
    boss = staff_user("boss", "manager")
    boss.email = "boss@example.jp"
    boss.save()

    day_before = timezone.localdate() - timedelta(days=1)
    assert send_daily_digest.apply().get() == 1
    day_after = timezone.localdate() - timedelta(days=1)

    # Yesterday in Japan as the clock says when the task runs (not the module's DAY: a run may cross midnight).
    assert DigestDelivery.objects.get(user=boss).day in {day_before, day_after}
    assert len(mail.outbox) == 1


def test_recipients_are_active_managers_with_an_address():
    sleeper = staff_user("gone", "manager")
    sleeper.email, sleeper.is_active = "gone@example.jp", False
    sleeper.save()
    seller = staff_user("seller", "sales")
    seller.email = "seller@example.jp"
    seller.save()
    assert digest_recipients() == []


def test_a_day_without_orders_says_so(customer):
    digest = day_digest(day=DAY - timedelta(days=30))
    assert (digest.received, digest.total, digest.products, digest.customers) == (0, 0, [], [])
    assert digest.straight_through_percent is None and digest.open_at_end is None


def test_more_than_twenty_customers_are_summed_up_in_one_line(catalog):
    sra = catalog["SRA-1Y"]
    for index in range(23):
        buyer = CustomerFactory(code=f"C{index:02d}")
        placed_order(buyer, created=at(10), status=Status.COMPLETED, lines=[(sra, 1 + index, 6_000 * (1 + index))], total=1000 * (index + 1))
    digest = day_digest(day=DAY)
    assert len(digest.customers) == 20
    assert digest.customers[0].code == "C22"
    assert (digest.other_customers.orders, digest.other_customers.total) == (3, 1000 + 2000 + 3000)
