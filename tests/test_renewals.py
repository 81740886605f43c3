"""Renewals: the list for sales, the notices at 90/30/7 days, renewal quotes that extend the term, the grace period."""

from datetime import date, timedelta

import pytest
from django.conf import settings as django_settings
from django.core import mail

from licensing.models import LicenseKey, RenewalNotice, SeatLedgerEntry, Subscription
from licensing.renewals import notice_band, renewal_notices_send, subscription_renew
from licensing.selectors import license_validate, subscription_seats
from licensing.services import add_months, japan_today
from licensing.tasks import send_renewal_notices
from orderdesk.audit import Actor
from orders.models import Order
from orders.services.from_quote import order_from_quote
from orders.services.pipeline import order_advance
from orderdesk.notifications.emails import email_send
from orderdesk.notifications.models import Event, OutboundEmail
from quotes.models import Quote
from quotes.services.renewals import renewal_quote_draft
from quotes.services.workflow import quote_send
from tests.backlog_support import make_staff
from tests.factories import CustomerFactory, provision

pytestmark = pytest.mark.django_db

TERM_END = date(2027, 3, 31)


@pytest.fixture
def billed(customer):
    customer.billing_email = "keiri@owner.example.jp"
    customer.save()
    return customer


def subscription_ending(customer, product, term_end: date, *, seats: int = 50, reference: str = "order-line:1"):
    provisioned = provision(customer, product, seats, reference, term_start=add_months(term_end + timedelta(days=1), -12))
    assert provisioned.entry.subscription.term_end == term_end
    return provisioned


def test_the_notice_due_is_the_nearest_of_90_30_and_7_days():
    assert [notice_band(days) for days in (120, 91, 90, 31, 30, 8, 7, 0, -1)] == [None, None, 90, 90, 30, 30, 7, 7, None]


def notices():
    """The renewal e-mails queued in the outbox, oldest first."""
    return list(OutboundEmail.objects.filter(kind="renewal_notice").order_by("pk"))


def test_the_billing_contact_gets_each_notice_once_in_japanese(billed, catalog):
    subscription_ending(billed, catalog["SRA-1Y"], TERM_END)
    sent_on = {}
    for days_before in range(100, -3, -1):  # beat runs every day, some days twice
        today = TERM_END - timedelta(days=days_before)
        sent = renewal_notices_send(today=today) + renewal_notices_send(today=today)
        if sent:
            sent_on[days_before] = sent

    assert sent_on == {90: 1, 30: 1, 7: 1}
    assert [email.to for email in notices()] == [["keiri@owner.example.jp"]] * 3
    first = notices()[0]
    assert first.subject == "【ライセンス更新のご案内】セキュアリモートアクセス 1年ライセンスの有効期限は2027年3月31日です"
    assert "株式会社オーナー 御中" in first.body and "ユーザー数: 50" in first.body and "あと90日" in first.body
    assert "猶予期間（2027年4月14日まで）" in first.body  # the default 14 days' grace
    assert "あと7日" in notices()[2].body
    assert sorted(RenewalNotice.objects.values_list("days_before", flat=True)) == [7, 30, 90]
    # The webhook event, one per notice.
    events = list(Event.objects.filter(type="subscription.renewal_due").order_by("pk"))
    assert [event.payload["notice"] for event in events] == [90, 30, 7]
    assert events[0].payload["object"] == {
        "sku": "SRA-1Y", "seats": 50, "term_start": "2026-04-01", "term_end": "2027-03-31", "status": "active"
    }
    assert events[0].payload["renewal_term"] == {"start": "2027-04-01", "end": "2028-03-31"}
    # The notifications worker sends it (orderdesk.notifications.emails.email_send), once.
    assert email_send(email_id=first.pk) is True and email_send(email_id=first.pk) is None
    assert [message.subject for message in mail.outbox] == [first.subject]
    assert mail.outbox[0].to == ["keiri@owner.example.jp"]


def test_a_missed_notice_is_not_sent_late_and_a_renewed_term_gets_its_own(billed, catalog):
    provisioned = subscription_ending(billed, catalog["SRA-1Y"], TERM_END)
    assert renewal_notices_send(today=TERM_END - timedelta(days=20)) == 1  # beat was down at 90 days: only the 30-day one
    assert RenewalNotice.objects.get().days_before == 30

    subscription_renew(subscription_id=provisioned.entry.subscription_id, seats=50, reference="renewal:1")

    assert renewal_notices_send(today=TERM_END - timedelta(days=7)) == 0  # the term no longer ends then
    assert renewal_notices_send(today=date(2028, 3, 31) - timedelta(days=90)) == 1
    assert RenewalNotice.objects.filter(term_end=date(2028, 3, 31), days_before=90).exists()
    assert len(notices()) == 2


def test_no_email_without_a_billing_address_and_nothing_for_a_suspended_subscription(customer, catalog):
    customer.billing_email = ""
    customer.save()
    provisioned = subscription_ending(customer, catalog["SRA-1Y"], TERM_END)
    assert renewal_notices_send(today=TERM_END - timedelta(days=30)) == 1
    assert not notices() and Event.objects.filter(type="subscription.renewal_due").count() == 1

    Subscription.objects.filter(pk=provisioned.entry.subscription_id).update(status=Subscription.Status.SUSPENDED)
    customer.billing_email = "keiri@owner.example.jp"
    customer.save()
    assert renewal_notices_send(today=TERM_END - timedelta(days=7)) == 0
    assert not notices()


def test_beat_runs_the_notices_daily_on_the_notifications_queue(billed, catalog):
    from orderdesk.celery import app

    schedule = django_settings.CELERY_BEAT_SCHEDULE["renewal-notices"]
    assert schedule["task"] == send_renewal_notices.name == "licensing.tasks.send_renewal_notices"
    assert app.amqp.router.route({}, send_renewal_notices.name)["queue"].name == "notifications"
    subscription_ending(billed, catalog["SRA-1Y"], japan_today() + timedelta(days=30))

    assert send_renewal_notices.apply().get() == 1
    assert send_renewal_notices.apply().get() == 0
    assert len(notices()) == 1


# --- The list and the renewal quote --------------------------------------------------------


@pytest.fixture
def sales(db):
    return make_staff("sales1", "sales")


def test_sales_see_terms_ending_within_90_30_and_7_days(client, sales, customer, catalog):
    today = japan_today()
    subscription_ending(customer, catalog["SRA-1Y"], today + timedelta(days=25), reference="order-line:1")
    other = CustomerFactory(code="LATER", name="株式会社レイター")
    subscription_ending(other, catalog["SRA-1Y"], today + timedelta(days=80), reference="order-line:2")
    far = CustomerFactory(code="FAR", name="株式会社ファー")
    subscription_ending(far, catalog["SRA-1Y"], today + timedelta(days=200), reference="order-line:3")
    client.force_login(sales)

    page = client.get("/renewals/").content.decode()
    assert "OWNER" in page and "LATER" in page and "FAR" not in page
    assert page.index("OWNER") < page.index("LATER")  # soonest first
    within_30 = client.get("/renewals/?within=30").content.decode()
    assert "OWNER" in within_30 and "LATER" not in within_30
    assert "OWNER" not in client.get("/renewals/?within=7").content.decode()


def test_only_sales_and_managers_open_the_renewals(client, customer, catalog):
    subscription = subscription_ending(customer, catalog["SRA-1Y"], japan_today() + timedelta(days=25)).entry.subscription
    assert client.get("/renewals/").status_code == 302  # to the sign-in
    client.force_login(make_staff("desk", "order_desk"))
    assert client.get("/renewals/").status_code == 403
    assert client.post(f"/renewals/{subscription.pk}/quote/").status_code == 403
    assert not Quote.objects.exists()
    client.force_login(make_staff("boss", "manager"))
    assert client.get("/renewals/").status_code == 200


def test_one_action_drafts_the_renewal_quote_for_the_current_seats(client, sales, customer, catalog):
    provisioned = subscription_ending(customer, catalog["SRA-1Y"], japan_today() + timedelta(days=25))
    provision(customer, catalog["SRA-1Y"], 10, "order-line:more")  # co-termed seats: 60 now
    subscription = provisioned.entry.subscription
    client.force_login(sales)

    response = client.post(f"/renewals/{subscription.pk}/quote/")

    quote = Quote.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/quotes/{quote.number}/"
    assert (quote.status, quote.customer, quote.renews, quote.renews_term_end) == (
        Quote.Status.DRAFT, customer, subscription, subscription.term_end
    )
    line = quote.lines.get()
    assert (line.sku, line.quantity, line.unit_price) == ("SRA-1Y", 60, 5400)  # a full term at the 50+ tier
    assert "ライセンス更新" in quote.notes
    # A second click (or a colleague's) opens the same quote.
    assert client.post(f"/renewals/{subscription.pk}/quote/")["Location"] == f"/quotes/{quote.number}/"
    assert Quote.objects.count() == 1
    assert quote.number in client.get("/renewals/").content.decode()


def test_an_accepted_renewal_extends_the_term_with_the_same_keys_and_seats(customer, catalog, settings):
    settings.LICENSE_EXPIRY_GRACE_DAYS = 0
    today = japan_today()
    term_end = today + timedelta(days=25)
    first = subscription_ending(customer, catalog["SRA-1Y"], term_end, seats=50)
    subscription = first.entry.subscription
    keys_before = list(LicenseKey.objects.values_list("key", flat=True))
    entries_before = SeatLedgerEntry.objects.count()

    quote = renewal_quote_draft(subscription_id=subscription.pk, actor=Actor.staff(make_staff("sales1", "sales"))).quote
    quote = quote_send(quote=quote, actor=Actor.system("tests"))
    order = order_from_quote(quote=quote, actor=Actor.customer(customer)).order
    assert order.lines.get().coterm_months is None  # the quote's price: a full term, not co-termed
    for _step in range(6):
        order = order_advance(order_id=order.pk)
        if order.status in {Order.Status.DOCUMENTING, Order.Status.COMPLETED}:
            break
    assert order.status in {Order.Status.DOCUMENTING, Order.Status.COMPLETED}, (order.status, order.review_reasons)

    subscription.refresh_from_db()
    assert subscription.term_end == add_months(term_end + timedelta(days=1), 12) - timedelta(days=1)
    assert list(LicenseKey.objects.values_list("key", flat=True)) == keys_before  # no new keys
    assert subscription_seats(subscription=subscription) == 50  # not 100
    assert SeatLedgerEntry.objects.count() == entries_before
    after_old_end = term_end + timedelta(days=30)
    assert license_validate(customer=customer, key=first.license_key.key, at=_noon(after_old_end)).code == "VALID"
    # The pipeline step again (a redelivered message) renews nothing twice.
    renewed_end = subscription.term_end
    order_advance(order_id=order.pk)
    subscription.refresh_from_db()
    assert subscription.term_end == renewed_end


def test_a_renewal_for_other_seats_sets_them_and_a_second_renewal_of_the_same_term_is_refused(customer, catalog):
    from licensing.renewals import RenewalRefused

    first = subscription_ending(customer, catalog["SRA-1Y"], TERM_END, seats=50)
    subscription_id = first.entry.subscription_id

    renewed = subscription_renew(subscription_id=subscription_id, seats=40, reference="order-line:9", expected_term_end=TERM_END)
    again = subscription_renew(subscription_id=subscription_id, seats=40, reference="order-line:9", expected_term_end=TERM_END)

    assert renewed.created and not again.created
    assert subscription_seats(subscription=Subscription.objects.get(pk=subscription_id)) == 40
    assert Subscription.objects.get(pk=subscription_id).term_end == date(2028, 3, 31)
    with pytest.raises(RenewalRefused):
        subscription_renew(subscription_id=subscription_id, seats=40, reference="order-line:10", expected_term_end=TERM_END)


# --- Expired keys and the grace period ------------------------------------------------------


def _noon(day: date):
    from datetime import datetime

    from licensing.models import JAPAN

    return datetime(day.year, day.month, day.day, 12, 0, tzinfo=JAPAN)


def test_expired_keys_validate_expired_after_the_grace_period(customer, catalog, settings):
    key = subscription_ending(customer, catalog["SRA-1Y"], TERM_END).license_key.key

    assert license_validate(customer=None, key=key, at=_noon(TERM_END)).code == "VALID"
    assert license_validate(customer=None, key=key, at=_noon(TERM_END + timedelta(days=14))).code == "VALID"
    assert license_validate(customer=None, key=key, at=_noon(TERM_END + timedelta(days=15))).code == "EXPIRED"
    settings.LICENSE_EXPIRY_GRACE_DAYS = 3
    assert license_validate(customer=None, key=key, at=_noon(TERM_END + timedelta(days=4))).code == "EXPIRED"
    settings.LICENSE_EXPIRY_GRACE_DAYS = 0
    assert license_validate(customer=None, key=key, at=_noon(TERM_END + timedelta(days=1))).code == "EXPIRED"


def test_renewing_add_on_seats_is_not_counted_as_more_add_on_seats(customer, catalog):
    from orders.rules import addon_seats_over_base

    subscription_ending(customer, catalog["SRA-1Y"], TERM_END, seats=20, reference="order-line:base")
    addon = subscription_ending(customer, catalog["RDA-1Y"], TERM_END, seats=20, reference="order-line:addon")
    quote = renewal_quote_draft(subscription_id=addon.entry.subscription_id, actor=Actor.system("tests")).quote
    quote = quote_send(quote=quote, actor=Actor.system("tests"))

    order = order_from_quote(quote=quote, actor=Actor.customer(customer)).order

    assert addon_seats_over_base(Order.objects.get(pk=order.pk)) == []  # 20 renewed, not 20 more on 20 base seats
