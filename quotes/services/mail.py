"""E-mailing a sent quote's PDF to the customer's billing address, through the notifications queue.

The e-mail is queued in the transaction that sends the quote
(orderdesk.notifications.emails.email_enqueue) and sent by a worker after the
commit, so the send button answers at once. The PDF is rendered when the
e-mail goes out. Each try is recorded in the quote's history (e-mail sent,
e-mail failed); the quote page shows the last e-mail's state, and staff can
send it again.
"""

from django.utils.translation import gettext_lazy as _

from orderdesk.audit import Actor
from orderdesk.notifications.emails import email_enqueue, email_send_again, latest_email
from orderdesk.notifications.models import OutboundEmail
from quotes.models import Quote, QuoteEvent
from quotes.pdf import format_japanese_date
from quotes.services.documents import quote_render_by_number
from quotes.services.errors import QuoteActionNotAllowed
from quotes.services.transitions import record_event

MAILER = Actor.system("mail")
SUBJECT = "【御見積書送付のご案内】{number}"
BODY = """{recipient}

いつもお世話になっております。{issuer}です。
ご依頼いただきましたお見積りを添付にてお送りいたします。

見積番号: {number}
お見積金額: ¥{total:,}（税込）
有効期限: {valid_until}

ご検討のほど、よろしくお願い申し上げます。

{issuer}
"""


def quote_email_topic(quote: Quote) -> str:
    return f"quote:{quote.pk}"


def quote_email_enqueue(*, quote: Quote) -> OutboundEmail:
    """Queue the PDF's e-mail to `quote.sent_to` in the caller's transaction (the send's)."""
    honorific = "御中" if quote.recipient_is_company else "様"
    return email_enqueue(
        customer_id=quote.customer_id,
        topic=quote_email_topic(quote),
        kind="quote.sent",
        to=[quote.sent_to],
        subject=SUBJECT.format(number=quote.number),
        body=BODY.format(
            recipient=f"{quote.recipient_name} {honorific}",
            issuer=quote.issuer.get("name", ""),
            number=quote.number,
            total=quote.total,
            valid_until=format_japanese_date(quote.valid_until),  # as on the PDF and the pages: 2027年1月1日
        ),
        attachments=[{"render": "quotes.services.mail.quote_pdf_attachment", "kwargs": {"number": quote.number}}],
        on_result="quotes.services.mail.quote_email_recorded",
    )


def quote_pdf_attachment(*, number: str) -> tuple[str, bytes, str]:
    """The quote's PDF as an attachment (called by the notifications worker when the e-mail goes out)."""
    rendered = quote_render_by_number(number=number)
    if rendered is None:
        raise LookupError(f"quote {number} no longer exists")
    return rendered.filename, rendered.content, rendered.content_type


def quote_email_recorded(*, email: OutboundEmail) -> None:
    """After each try: `emailed` or `email_failed` in the quote's history."""
    quote = Quote.objects.filter(pk=int(email.topic.split(":", 1)[1])).first()
    if quote is None:
        return
    if email.status == OutboundEmail.Status.SENT:
        record_event(quote=quote, actor=MAILER, action=QuoteEvent.Action.EMAILED, data={"to": email.to[0] if email.to else ""})
    else:
        record_event(quote=quote, actor=MAILER, action=QuoteEvent.Action.EMAIL_FAILED, data={"to": email.to[0] if email.to else "", "error": email.last_error})


def quote_email_state(quote: Quote) -> OutboundEmail | None:
    """The quote's last e-mail (queued, sent or failed), for its page."""
    return latest_email(topic=quote_email_topic(quote))


def quote_email_again(*, quote: Quote, actor: Actor) -> OutboundEmail:
    """Staff retry after a failed e-mail (or at the customer's request): queued again, sent by a worker."""
    if quote.status != Quote.Status.SENT:
        raise QuoteActionNotAllowed(quote, _("Only a sent quote can be e-mailed again."))
    email = quote_email_state(quote)
    if email is None or email.to != [quote.sent_to]:
        return quote_email_enqueue(quote=quote)
    return email_send_again(email=email)


