"""A sent quote: the customer's quote.sent event, its e-mail sent by a worker with a state on the quote page, and quote.expiring."""

from datetime import date, datetime, timedelta

import pytest
from django.core import mail
from django.urls import reverse

from licensing.models import JAPAN
from orderdesk.notifications.emails import email_send
from orderdesk.notifications.models import Event, OutboundEmail
from quotes.models import QuoteEvent
from quotes.services.notices import quotes_expiring_notify
from tests.factories import sent_quote

pytestmark = pytest.mark.django_db


def test_sending_a_quote_records_its_event_and_queues_its_email_in_the_same_transaction(customer, catalog):
    quote = sent_quote(customer=customer, lines=[(catalog["SRA-1Y"], 10)])
    event = Event.objects.get(type="quote.sent")
    assert event.customer_id == customer.pk
    assert event.payload["object"]["number"] == quote.number and event.payload["object"]["status"] == "sent"
    assert event.payload["object"]["url"].startswith("http")
    email = OutboundEmail.objects.get(kind="quote.sent")
    assert email.status == OutboundEmail.Status.QUEUED and mail.outbox == []

    assert email_send(email_id=email.pk) is True
    message = mail.outbox[0]
    assert message.subject == f"【御見積書送付のご案内】{quote.number}"
    assert message.attachments[0][0] == f"quote-{quote.number}.pdf" and message.attachments[0][1].startswith(b"%PDF")
    assert quote.events.filter(action=QuoteEvent.Action.EMAILED).count() == 1


class FailingBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("SMTP down")


def test_the_quote_page_shows_a_failed_email_and_its_retry_sends_it(client, customer, catalog, settings):
    from tests.backlog_support import make_staff

    quote = sent_quote(customer=customer, lines=[(catalog["SRA-1Y"], 10)])
    settings.EMAIL_BACKEND = "tests.test_quote_notices.FailingBackend"
    assert email_send(email_id=OutboundEmail.objects.get().pk) is False
    client.force_login(make_staff("sato", "sales"))
    page = client.get(reverse("quotes:detail", args=[quote.number])).content.decode()
    assert "送信失敗" in page and "SMTP down" in page and "メールを再送" in page
    assert quote.events.filter(action=QuoteEvent.Action.EMAIL_FAILED).count() == 1

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    response = client.post(reverse("quotes:email_again", args=[quote.number]))
    assert response.status_code == 302
    assert "送信中" in client.get(reverse("quotes:detail", args=[quote.number])).content.decode()
    assert email_send(email_id=OutboundEmail.objects.get().pk) is True
    assert "送信済み" in client.get(reverse("quotes:detail", args=[quote.number])).content.decode()
    assert len(mail.outbox) == 1


def test_quote_expiring_is_recorded_three_days_ahead_once(customer, catalog):
    quote = sent_quote(customer=customer, lines=[(catalog["SRA-1Y"], 10)], valid_until=date(2027, 1, 4))
    sent_quote(customer=customer, lines=[(catalog["SRA-1Y"], 5)], valid_until=date(2027, 1, 5))  # not yet
    morning = datetime(2027, 1, 1, 9, 0, tzinfo=JAPAN)

    assert quotes_expiring_notify(now=morning) == 1
    assert quotes_expiring_notify(now=morning + timedelta(hours=1)) == 0  # run twice: once
    (event,) = Event.objects.filter(type="quote.expiring")
    assert event.payload["object"]["number"] == quote.number and event.payload["expires_in_days"] == 3
