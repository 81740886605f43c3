from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from licensing.models import ProductLineNames
from orderdesk.audit import AuditEvent

# Validity ends at the end of its last day in Japan, wherever the server runs.
JAPAN = ZoneInfo("Asia/Tokyo")


class Quote(models.Model):
    """One revision of a quote (御見積書). A sent revision is never edited: revising makes a new one."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PENDING_APPROVAL = "pending_approval", _("Waiting for approval")
        APPROVED = "approved", _("Approved")
        SENT = "sent", _("Sent")
        ACCEPTED = "accepted", _("Accepted")
        DECLINED = "declined", _("Declined")
        EXPIRED = "expired", _("Expired")
        SUPERSEDED = "superseded", _("Superseded")

    EDITABLE_STATUSES = frozenset({Status.DRAFT, Status.APPROVED})
    # Statuses a customer may see through the API: the quote was sent to them at some point.
    ISSUED_STATUSES = frozenset({Status.SENT, Status.ACCEPTED, Status.DECLINED, Status.EXPIRED, Status.SUPERSEDED})
    REVISABLE_STATUSES = frozenset({Status.SENT, Status.EXPIRED, Status.DECLINED})

    # "Q-2026-000045" for the first revision, "Q-2026-000045-R2" after a revision.
    number = models.CharField(_("number"), max_length=32, unique=True)
    base_number = models.CharField(_("base number"), max_length=24)
    revision = models.PositiveSmallIntegerField(_("revision"), default=1)
    supersedes = models.OneToOneField(
        "self",
        verbose_name=_("supersedes"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="superseded_by",
    )
    customer = models.ForeignKey(
        "licensing.Customer", verbose_name=_("customer"), on_delete=models.PROTECT, related_name="quotes"
    )
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.DRAFT)
    valid_until = models.DateField(_("valid until"))
    # A renewal quote: accepted, it extends this subscription's term (ending on renews_term_end) by one
    # term for its line's seats, with the same keys (quotes.services.renewals, licensing.renewals).
    renews = models.ForeignKey(
        "licensing.Subscription",
        verbose_name=_("renews"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="renewal_quotes",
    )
    renews_term_end = models.DateField(_("renews the term ending"), null=True, blank=True)
    payment_terms = models.CharField(_("payment terms"), max_length=200)
    notes = models.TextField(_("notes"), blank=True)

    # Amounts in yen, recomputed by quotes.services.pricing on every edit.
    list_total = models.PositiveBigIntegerField(_("list price total"), default=0)
    discount = models.PositiveBigIntegerField(_("quote discount"), default=0)
    subtotal = models.PositiveBigIntegerField(_("subtotal"), default=0)
    tax = models.PositiveBigIntegerField(_("tax"), default=0)
    total = models.PositiveBigIntegerField(_("total"), default=0)
    tax_rows = models.JSONField(_("tax per rate"), default=list, blank=True)
    needs_approval = models.BooleanField(_("needs approval"), default=False)

    # Frozen when the quote is sent, so the document the customer got never changes.
    issue_date = models.DateField(_("issue date"), null=True, blank=True)
    recipient_name = models.CharField(_("recipient"), max_length=200, blank=True)
    recipient_is_company = models.BooleanField(_("recipient is a company (御中)"), default=True)
    issuer = models.JSONField(_("issuer"), default=dict, blank=True)
    sent_to = models.EmailField(_("sent to"), blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("approved by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)
    status_changed_at = models.DateTimeField(_("status changed"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("quote")
        verbose_name_plural = _("quotes")
        constraints = [
            models.UniqueConstraint(fields=["base_number", "revision"], name="unique_quote_revision"),
        ]
        indexes = [
            models.Index(fields=["status", "valid_until"], name="quote_status_validity"),
            models.Index(fields=["customer", "-created_at"], name="quote_customer_newest"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_renewal(self) -> bool:
        return self.renews_id is not None

    @property
    def expires_at(self) -> datetime:
        """The first moment the quote is no longer valid: 00:00 Japan time after valid_until."""
        return datetime.combine(self.valid_until + timedelta(days=1), time.min, tzinfo=JAPAN)

    def is_past_validity(self, now: datetime | None = None) -> bool:
        return (now or timezone.now()) >= self.expires_at

    @property
    def is_editable(self) -> bool:
        return self.status in self.EDITABLE_STATUSES

    @property
    def line_discount_total(self) -> int:
        return self.list_total - self.subtotal - self.discount

    @property
    def discount_percent_of_list(self) -> float:
        if not self.list_total:
            return 0.0
        return 100 * (self.list_total - self.subtotal) / self.list_total


def quote_number(base_number: str, revision: int) -> str:
    return base_number if revision == 1 else f"{base_number}-R{revision}"


class QuoteLine(ProductLineNames, models.Model):
    class DiscountKind(models.TextChoices):
        PERCENT = "percent", _("%")
        YEN = "yen", _("yen")

    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField(_("position"))
    product = models.ForeignKey("licensing.Product", verbose_name=_("product"), on_delete=models.PROTECT, related_name="+")
    # Frozen from the catalog when the line is written.
    sku = models.CharField(_("SKU"), max_length=32)
    product_name = models.CharField(_("product name"), max_length=200)
    unit = models.CharField(_("unit"), max_length=16)
    tax_rate = models.PositiveSmallIntegerField(_("tax rate"))
    quantity = models.PositiveIntegerField(_("quantity"))
    unit_price = models.PositiveBigIntegerField(_("unit price"))  # the tier price for the quantity
    discount_percent = models.PositiveSmallIntegerField(_("discount %"), default=0)
    discount_yen = models.PositiveBigIntegerField(_("discount (yen)"), default=0)
    amount = models.PositiveBigIntegerField(_("amount"))  # quantity × unit price, less the line's discount

    class Meta:
        ordering = ["quote", "position"]
        verbose_name = _("quote line")
        verbose_name_plural = _("quote lines")
        constraints = [
            models.UniqueConstraint(fields=["quote", "position"], name="unique_quote_line_position"),
            models.UniqueConstraint(fields=["quote", "product"], name="unique_product_per_quote"),
        ]

    def __str__(self) -> str:
        return f"{self.quote.number} #{self.position} {self.sku} × {self.quantity}"

    @property
    def gross(self) -> int:
        return self.unit_price * self.quantity

    @property
    def line_discount(self) -> int:
        return self.gross - self.amount


class QuoteEvent(AuditEvent):
    """The quote's history: who did what, when, with the status before and after (orderdesk.audit)."""

    class Action(models.TextChoices):
        CREATED = "created", pgettext_lazy("quote history", "Created")
        EDITED = "edited", pgettext_lazy("quote history", "Edited")
        SUBMITTED = "submitted", pgettext_lazy("quote history", "Submitted for approval")
        APPROVED = "approved", pgettext_lazy("quote history", "Approved")
        RETURNED = "returned", pgettext_lazy("quote history", "Returned for changes")
        SENT = "sent", pgettext_lazy("quote history", "Sent")
        EMAILED = "emailed", pgettext_lazy("quote history", "E-mail sent")
        EMAIL_FAILED = "email_failed", pgettext_lazy("quote history", "E-mail failed")
        REVISED = "revised", pgettext_lazy("quote history", "Revised")
        SUPERSEDED = "superseded", pgettext_lazy("quote history", "Superseded")
        ACCEPTED = "accepted", pgettext_lazy("quote history", "Accepted")
        DECLINED = "declined", pgettext_lazy("quote history", "Declined")
        EXPIRED = "expired", pgettext_lazy("quote history", "Expired")

    SUBJECT_FIELD = "quote"

    action = models.CharField(_("action"), max_length=32, choices=Action.choices)
    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="events")

    class Meta:
        ordering = ["quote", "created_at", "id"]
        verbose_name = _("quote event")
        verbose_name_plural = _("quote events")

    def __str__(self) -> str:
        return f"{self.quote.number}: {self.action}"
