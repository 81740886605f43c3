"""E-mailing a sent quote's PDF to the customer's billing address through Django's e-mail backend.

Runs after the send is committed. A failure (SMTP down) does not undo the
send: it is recorded in the history, and staff can send the e-mail again.
"""

import logging

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils.translation import gettext_lazy as _

from quotes.models import Quote, QuoteEvent
from orderdesk.audit import Actor
from quotes.services.documents import quote_render_by_number
from quotes.services.errors import QuoteActionNotAllowed
from quotes.services.transitions import record_event

logger = logging.getLogger(__name__)

SUBJECT = "【御見積書送付のご案内】{number}"
BODY = """{recipient}

いつもお世話になっております。{issuer}です。
ご依頼いただきましたお見積りを添付にてお送りいたします。

見積番号: {number}
お見積金額: ¥{total:,}（税込）
有効期限: {valid_until:%Y年%m月%d日}

ご検討のほど、よろしくお願い申し上げます。

{issuer}
"""


def quote_email(*, quote_id: int, actor: Actor) -> bool:
    """Send the PDF; record `emailed` or `email_failed`. Returns whether it was sent."""
    quote = Quote.objects.select_related("customer").get(pk=quote_id)
    honorific = "御中" if quote.recipient_is_company else "様"
    message = EmailMessage(
        subject=SUBJECT.format(number=quote.number),
        body=BODY.format(
            recipient=f"{quote.recipient_name} {honorific}",
            issuer=quote.issuer.get("name", ""),
            number=quote.number,
            total=quote.total,
            valid_until=quote.valid_until,
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[quote.sent_to],
    )
    rendered = quote_render_by_number(number=quote.number)
    message.attach(rendered.filename, rendered.content, rendered.content_type)
    try:
        message.send()
    except Exception as error:  # noqa: BLE001 — any transport error is recorded; the quote stays sent
        logger.warning("could not e-mail quote %s to %s", quote.number, quote.sent_to, exc_info=True)
        record_event(quote=quote, actor=actor, action=QuoteEvent.Action.EMAIL_FAILED, data={"to": quote.sent_to, "error": str(error)[:300]})
        return False
    record_event(quote=quote, actor=actor, action=QuoteEvent.Action.EMAILED, data={"to": quote.sent_to, "attachment": rendered.filename})
    return True


def quote_email_again(*, quote: Quote, actor: Actor) -> bool:
    """Staff retry after a failed e-mail (or at the customer's request)."""
    if quote.status != Quote.Status.SENT:
        raise QuoteActionNotAllowed(quote, _("Only a sent quote can be e-mailed again."))
    return quote_email(quote_id=quote.pk, actor=actor)
