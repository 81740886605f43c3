"""How long the notifications' records are kept: events (with their deliveries and attempts) and e-mails.

    notifications_prune()   the daily beat task's one call: delete what is older than NOTIFICATIONS_RETENTION_DAYS

Only what is finished goes: an event once it is dispatched and none of its
deliveries is still pending, an e-mail once it is sent or has failed. The
retention is longer than the retry window (settings refuse otherwise), so a
delivery still being retried is never old enough anyway; the condition keeps
it safe when the clock or the settings say otherwise.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from orderdesk.db import delete_in_batches
from orderdesk.notifications.models import Event, OutboundEmail, WebhookDelivery


def notifications_prune(*, now: datetime | None = None, batch: int = 1000) -> dict[str, int]:
    """Delete finished events and e-mails created before the retention; rows deleted by kind. Safe to repeat."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.NOTIFICATIONS_RETENTION_DAYS)
    pending = WebhookDelivery.objects.filter(event=OuterRef("pk"), status=WebhookDelivery.Status.PENDING)
    events = Event.objects.filter(created_at__lt=cutoff, dispatched_at__isnull=False).exclude(Exists(pending))
    emails = OutboundEmail.objects.filter(
        created_at__lt=cutoff, status__in=[OutboundEmail.Status.SENT, OutboundEmail.Status.FAILED]
    )
    # An event's deliveries and their attempts go with it (on_delete=CASCADE); the count includes them.
    return {"events": delete_in_batches(events, batch), "emails": delete_in_batches(emails, batch)}
