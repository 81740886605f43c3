"""What customers hear about their quotes: the quote.sent and quote.expiring events (webhooks).

    quote_sent_record(quote=…)         in the send's transaction: the event and the PDF's e-mail
    quotes_expiring_notify(now=…)      daily: quote.expiring for each sent quote that ends in 3 days, once
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from licensing.models import JAPAN
from orderdesk.notifications.models import Event
from orderdesk.notifications.outbox import event_record
from quotes.models import Quote
from quotes.services.mail import quote_email_enqueue

EXPIRING_DAYS_AHEAD = 3


def quote_resource(quote: Quote) -> dict:
    """The quote as the API shows it (GET /api/v1/quotes/{number}/), with absolute URLs."""
    from quotes.api.serializers import QuoteSerializer  # the API's one writer of a quote's body

    body = dict(QuoteSerializer(quote, context={"request": None}).data)
    for name in ("url", "accept_url"):
        if body.get(name, "").startswith("/"):
            body[name] = settings.ORDERDESK_SITE_URL + body[name]
    return body


def quote_sent_record(*, quote: Quote) -> None:
    event_record(customer_id=quote.customer_id, event_type="quote.sent", payload={"object": quote_resource(quote)})
    quote_email_enqueue(quote=quote)


def quotes_expiring_notify(*, now: datetime | None = None) -> int:
    """Record quote.expiring for sent quotes whose last valid day is 3 days from today (Japan); once per quote."""
    today = (now or timezone.now()).astimezone(JAPAN).date()
    due = today + timedelta(days=EXPIRING_DAYS_AHEAD)
    recorded = 0
    for quote_id in Quote.objects.filter(status=Quote.Status.SENT, valid_until=due).values_list("pk", flat=True):
        with transaction.atomic():
            quote = Quote.objects.select_for_update().filter(pk=quote_id, status=Quote.Status.SENT).first()
            if quote is None:
                continue
            if Event.objects.filter(customer_id=quote.customer_id, type="quote.expiring", payload__object__number=quote.number).exists():
                continue
            payload = {"object": quote_resource(quote), "expires_in_days": EXPIRING_DAYS_AHEAD}
            event_record(customer_id=quote.customer_id, event_type="quote.expiring", payload=payload)
            recorded += 1
    return recorded
