"""The outbox of customer events, the webhook endpoints they go to, each delivery and attempt, and outgoing e-mail.

An `Event` row is written in the same transaction as the change that caused
it (orderdesk.notifications.event_record): a committed change never lacks
its event, and a rolled-back one never has one. Everything after that (fan-out
to endpoints, HTTP, retries) reads these tables; a Celery message only says
"look".
"""

import secrets
import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


class Event(models.Model):
    """One thing that happened to a customer's resource (the outbox row). Never edited but for `dispatched_at`."""

    public_id = models.CharField(_("event id"), max_length=40, unique=True, default=new_event_id)
    customer = models.ForeignKey("licensing.Customer", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="+")
    type = models.CharField(_("type"), max_length=40)
    payload = models.JSONField(_("resource"), default=dict)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    # Set once the event has been fanned out to the endpoints subscribed to it (the relay's mark).
    dispatched_at = models.DateTimeField(_("dispatched"), null=True, blank=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        indexes = [
            models.Index(fields=["created_at"], condition=models.Q(dispatched_at__isnull=True), name="event_undispatched"),
            models.Index(fields=["customer", "type", "created_at"], name="event_customer_type"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.public_id}"


class WebhookEndpoint(models.Model):
    """A customer's URL that receives the events it subscribed to, signed with its secret."""

    customer = models.ForeignKey("licensing.Customer", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="+")
    url = models.URLField(_("URL"), max_length=2000)
    events = models.JSONField(_("events"), default=list)
    description = models.CharField(_("description"), max_length=200, blank=True)
    secret = models.CharField(_("signing secret"), max_length=100, default=new_secret)
    # After a rotation the old secret signs too (a second v1) until this moment.
    previous_secret = models.CharField(_("previous secret"), max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(_("previous secret valid until"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    disabled_at = models.DateTimeField(_("disabled"), null=True, blank=True)
    disabled_reason = models.CharField(_("why disabled"), max_length=300, blank=True)
    # The first failed attempt since the last success: the endpoint is disabled when this is old enough.
    failing_since = models.DateTimeField(_("failing since"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        indexes = [models.Index(fields=["customer", "is_active"], name="endpoint_customer_active")]

    def __str__(self) -> str:
        return self.url

    def signing_secrets(self, *, now=None) -> list[str]:
        """The secrets that sign a delivery now: the current one, and the previous one during a rotation's overlap."""
        now = now or timezone.now()
        if self.previous_secret and self.previous_secret_expires_at and self.previous_secret_expires_at > now:
            return [self.secret, self.previous_secret]
        return [self.secret]


class WebhookDelivery(models.Model):
    """One event to one endpoint: pending until an attempt succeeds or the retries run out."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")  # retries exhausted, or the endpoint was disabled

    event = models.ForeignKey(Event, verbose_name=_("event"), on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, verbose_name=_("endpoint"), on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    # An attempt in progress holds the delivery until then (a worker killed mid-attempt releases it by time).
    leased_until = models.DateTimeField(_("leased until"), null=True, blank=True)
    lease_token = models.CharField(_("lease"), max_length=32, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    # The first attempt of this delivery (again), when "send again" restarted it: the retries run for WEBHOOK_RETRY_FOR_SECONDS from here.
    retry_window_from = models.DateTimeField(_("retrying since"), default=timezone.now)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [models.UniqueConstraint(fields=["event", "endpoint"], name="one_delivery_per_event_and_endpoint")]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=models.Q(status="pending"), name="delivery_due"),
            models.Index(fields=["endpoint", "-created_at"], name="delivery_endpoint_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id} ({self.status})"


class DeliveryAttempt(models.Model):
    """One HTTP request of a delivery, as the delivery log shows it."""

    delivery = models.ForeignKey(WebhookDelivery, verbose_name=_("delivery"), on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField(_("attempt"))
    attempted_at = models.DateTimeField(_("when"), default=timezone.now)
    succeeded = models.BooleanField(_("succeeded"), default=False)
    status_code = models.PositiveSmallIntegerField(_("status code"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    response_excerpt = models.TextField(_("response excerpt"), blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="one_attempt_number_per_delivery")]

    def __str__(self) -> str:
        return f"#{self.number} {self.status_code or self.error}"


class OutboundEmail(models.Model):
    """An e-mail to send from the notifications queue: written in the caller's transaction, sent after it."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")

    customer = models.ForeignKey(
        "licensing.Customer", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    # What it is about, for the page that shows its state: "quote:12", "order:O-2026-000001".
    topic = models.CharField(_("about"), max_length=100, db_index=True)
    kind = models.CharField(_("kind"), max_length=40)
    to = models.JSONField(_("to"), default=list)
    subject = models.CharField(_("subject"), max_length=300)
    body = models.TextField(_("body"))
    # [{"render": "dotted.path.to.callable", "kwargs": {...}}]: called at send time, returns (filename, bytes, content type).
    attachments = models.JSONField(_("attachments"), default=list)
    # A dotted path called with the e-mail after each try (a quote's history records it), or empty.
    on_result = models.CharField(_("told after each try"), max_length=200, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    leased_until = models.DateTimeField(_("leased until"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("outgoing e-mail")
        verbose_name_plural = _("outgoing e-mails")
        indexes = [models.Index(fields=["created_at"], condition=models.Q(status="queued"), name="email_queued")]

    def __str__(self) -> str:
        return f"{self.kind} → {', '.join(self.to)} ({self.status})"
