"""E-mail to customers, sent by the notifications queue and never inside a web request.

    email_enqueue(…)            inside the caller's transaction: the row, and a message after commit
    email_send(email_id=…)      the worker: claim, render attachments, send, record sent / failed
    email_send_again(email=…)   a person's retry of a failed (or sent) e-mail

Attachments are rendered when the e-mail is sent, by a function named in the
row ({"render": "dotted.path", "kwargs": {...}} → (filename, bytes, content
type)), so that the caller's transaction renders nothing and this layer
imports no app. `on_result`, also a dotted path, is called with the e-mail
after each try (a quote's history records it).
"""

import logging
from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from orderdesk.notifications.models import OutboundEmail
from orderdesk.notifications.outbox import publish

logger = logging.getLogger(__name__)

Status = OutboundEmail.Status


def email_enqueue(
    *,
    customer_id: int | None,
    topic: str,
    kind: str,
    to: Sequence[str],
    subject: str,
    body: str,
    attachments: Sequence[dict] = (),
    on_result: str = "",
) -> OutboundEmail:
    """Queue an e-mail; sent by a worker after the caller's transaction commits (or never, on rollback)."""
    email = OutboundEmail.objects.create(
        customer_id=customer_id,
        topic=topic[:100],
        kind=kind,
        to=list(to),
        subject=subject[:300],
        body=body,
        attachments=list(attachments),
        on_result=on_result,
    )
    transaction.on_commit(lambda: _publish_send(email.pk))
    return email


def _publish_send(email_id: int) -> None:
    from orderdesk.notifications.tasks import send_email

    publish(send_email, args=[email_id])


def email_send(*, email_id: int) -> bool | None:
    """Send a queued e-mail no one else is sending; True sent, False failed, None nothing to do."""
    now = timezone.now()
    claimed = (
        OutboundEmail.objects.filter(pk=email_id, status=Status.QUEUED)
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        .update(leased_until=now + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS))
    )
    if not claimed:
        return None
    email = OutboundEmail.objects.get(pk=email_id)
    message = EmailMessage(subject=email.subject, body=email.body, from_email=settings.DEFAULT_FROM_EMAIL, to=email.to)
    try:
        for attachment in email.attachments:
            filename, content, content_type = import_string(attachment["render"])(**attachment.get("kwargs", {}))
            message.attach(filename, content, content_type)
        message.send()
    except Exception as error:  # noqa: BLE001 — any transport or rendering error is recorded; a person may retry
        logger.warning("could not send e-mail %s (%s) to %s", email.pk, email.kind, email.to, exc_info=True)
        OutboundEmail.objects.filter(pk=email.pk).update(
            status=Status.FAILED, attempts=email.attempts + 1, last_error=f"{type(error).__name__}: {error}"[:300], leased_until=None
        )
        sent = False
    else:
        OutboundEmail.objects.filter(pk=email.pk).update(
            status=Status.SENT, attempts=email.attempts + 1, last_error="", sent_at=timezone.now(), leased_until=None
        )
        sent = True
    email.refresh_from_db()
    if email.on_result:
        import_string(email.on_result)(email=email)
    return sent


def email_send_again(*, email: OutboundEmail) -> OutboundEmail:
    """Queue an e-mail again (after a failure, or when the customer asks) and publish it after commit."""
    OutboundEmail.objects.filter(pk=email.pk).update(status=Status.QUEUED, leased_until=None, last_error="")
    transaction.on_commit(lambda: _publish_send(email.pk))
    email.refresh_from_db()
    return email


def emails_waiting(*, older_than: timedelta, limit: int) -> list[int]:
    """Queued e-mails no one is sending, queued longer than `older_than` ago (the sweeper's list)."""
    now = timezone.now()
    return list(
        OutboundEmail.objects.filter(status=Status.QUEUED, created_at__lt=now - older_than)
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )


def latest_email(*, topic: str) -> OutboundEmail | None:
    """The newest e-mail about `topic` ("quote:12"): what a page shows as sent / failed."""
    return OutboundEmail.objects.filter(topic=topic).order_by("-created_at", "-pk").first()
