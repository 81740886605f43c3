from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from orderdesk.audit import AuditEvent

from licensing.models import ProductLineNames


class ReviewReason(models.TextChoices):
    """Why the straight-through rules held an order for a person (stored in Order.review_reasons)."""

    UNKNOWN_SKU = "UNKNOWN_SKU", _("Unknown SKU")
    INACTIVE_SKU = "INACTIVE_SKU", _("Product no longer sold")
    QUANTITY_OVER_CAP = "QUANTITY_OVER_CAP", _("Quantity over the per-order cap")
    OVER_CREDIT_LIMIT = "OVER_CREDIT_LIMIT", _("Over the customer's credit limit")
    ADDON_EXCEEDS_BASE = "ADDON_EXCEEDS_BASE", _("Add-on seats would exceed base seats")
    SUSPECTED_DUPLICATE = "SUSPECTED_DUPLICATE", _("Suspected duplicate order")
    PRICE_DIFFERS_FROM_QUOTE = "PRICE_DIFFERS_FROM_QUOTE", _("Price differs from the accepted quote")
    MANUAL_APPROVAL = "MANUAL_APPROVAL", _("Customer requires manual approval")
    PROVISIONING_REFUSED = "PROVISIONING_REFUSED", _("Licensing refused the seats")


# Approving an order held only for these is exactly what they ask for; approving over any other reason overrides a rule.
REASONS_APPROVED_WITHOUT_OVERRIDE = frozenset({ReviewReason.MANUAL_APPROVAL})


class Order(models.Model):
    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        VALIDATED = "validated", _("Validated")
        NEEDS_REVIEW = "needs_review", _("Needs review")
        APPROVED = "approved", _("Approved")
        PROVISIONING = "provisioning", _("Provisioning")
        DOCUMENTING = "documenting", _("Documenting")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")
        REJECTED = "rejected", _("Rejected")
        CANCELLED = "cancelled", _("Cancelled")

    FINAL_STATUSES = frozenset({Status.COMPLETED, Status.REJECTED, Status.CANCELLED})
    # States the pipeline moves on by itself; the sweeper re-enqueues orders stuck in them.
    MOVING_STATUSES = frozenset(
        {Status.RECEIVED, Status.VALIDATED, Status.APPROVED, Status.PROVISIONING, Status.DOCUMENTING}
    )
    CANCELLABLE_STATUSES = frozenset(
        {Status.RECEIVED, Status.VALIDATED, Status.NEEDS_REVIEW, Status.APPROVED, Status.FAILED}
    )

    class Source(models.TextChoices):
        API = "api", _("API")
        IMPORT = "import", _("Import")
        QUOTE = "quote", _("Quote")
        STAFF = "staff", _("Staff")

    # Unique by unique_order_number below, not unique=True: on PostgreSQL that would add a
    # second index (varchar_pattern_ops, for LIKE 'prefix%') that no query uses, and every
    # order pays for each index when it is inserted.
    number = models.CharField(_("number"), max_length=20)
    # Indexed by unique_po_number_per_customer and order_customer_newest, which start with it.
    customer = models.ForeignKey(
        "licensing.Customer", verbose_name=_("customer"), on_delete=models.PROTECT, related_name="orders", db_index=False
    )
    po_number = models.CharField(_("PO number"), max_length=64)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.RECEIVED)
    status_reason = models.CharField(_("status reason"), max_length=500, blank=True)
    review_reasons = models.JSONField(_("review reasons"), default=list, blank=True)
    status_changed_at = models.DateTimeField(_("status changed"), default=timezone.now)
    source = models.CharField(_("source"), max_length=8, choices=Source.choices, default=Source.API)
    requested_start = models.DateField(_("requested start"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    # The accepted quote this order was made from; its prices and discount are the order's.
    quote = models.ForeignKey(
        "quotes.Quote",
        verbose_name=_("quote"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="orders",
        db_index=False,  # indexed by one_order_per_quote
    )
    # Whole-document discount in yen (from the quote), already inside subtotal.
    discount = models.PositiveBigIntegerField(_("discount"), default=0)
    subtotal = models.PositiveBigIntegerField(_("subtotal"), default=0)
    tax = models.PositiveBigIntegerField(_("tax"), default=0)
    total = models.PositiveBigIntegerField(_("total"), default=0)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("claimed by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="claimed_orders",
        db_index=False,  # indexed by order_claimed_by, which leaves out the orders no one holds
    )
    claimed_at = models.DateTimeField(_("claimed"), null=True, blank=True)
    # When the sweeper last re-enqueued this order: it does so at most once per
    # ORDER_STUCK_AFTER_SECONDS, so a long backlog is not flooded with copies.
    swept_at = models.DateTimeField(_("last swept"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    # Suspected duplicates (orders.duplicates), linked both ways: each order of a pair shows the other.
    possible_duplicates = models.ManyToManyField("self", verbose_name=_("possible duplicates"), symmetrical=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        constraints = [
            models.UniqueConstraint(fields=["number"], name="unique_order_number"),
            models.UniqueConstraint(fields=["customer", "po_number"], name="unique_po_number_per_customer"),
            # Accepting a quote twice, even at the same instant, makes one order. Partial: an
            # order from the API has no quote, and need not be entered in this index.
            models.UniqueConstraint(fields=["quote"], name="one_order_per_quote", condition=models.Q(quote__isnull=False)),
        ]
        indexes = [
            models.Index(fields=["customer", "-created_at", "-id"], name="order_customer_newest"),
            # Who holds which orders; a new order is held by no one and is not entered here.
            models.Index(fields=["claimed_by"], name="order_claimed_by", condition=models.Q(claimed_by__isnull=False)),
            models.Index(fields=["status", "status_changed_at"], name="order_status_age"),
            # A customer's completed orders by completion, for the unpaid part of its credit
            # exposure (orders.credit). Partial: a new order is not completed and is not entered here.
            models.Index(
                fields=["customer", "status_changed_at"],
                name="order_customer_completed",
                condition=models.Q(status="completed"),
            ),
            # The backlog lists open orders oldest first: this index holds only
            # the (few) open orders, in that order, so a page is a short index
            # walk however many completed orders pile up behind it.
            models.Index(
                fields=["created_at", "id"],
                name="order_open_oldest",
                condition=models.Q(
                    status__in=["needs_review", "failed", "received", "validated", "approved", "provisioning", "documenting"]
                ),
            ),
            # The same open orders, largest total first: the backlog sorted by
            # total, narrowed to a reason, walks it until the page is full
            # instead of reading and sorting every order with that reason.
            models.Index(
                fields=["-total", "created_at", "id"],
                name="order_open_largest",
                condition=models.Q(
                    status__in=["needs_review", "failed", "received", "validated", "approved", "provisioning", "documenting"]
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES


class OrderLine(ProductLineNames, models.Model):
    # Indexed by unique_line_position and unique_product_per_order, which start with it.
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines", db_index=False)
    position = models.PositiveSmallIntegerField(_("position"))
    product = models.ForeignKey("licensing.Product", verbose_name=_("product"), on_delete=models.PROTECT, related_name="+")
    # Frozen at order time: later catalog changes do not rewrite an order.
    sku = models.CharField(_("SKU"), max_length=32)
    product_name = models.CharField(_("product name"), max_length=200)
    unit = models.CharField(_("unit"), max_length=16)
    quantity = models.PositiveIntegerField(_("quantity"))
    unit_price = models.PositiveBigIntegerField(_("unit price"))
    amount = models.PositiveBigIntegerField(_("amount"))
    tax_rate = models.PositiveSmallIntegerField(_("tax rate"))
    # Co-terming (月割り): seats added to a running subscription end with it and are priced for the
    # months left of its term (licensing.pricing.coterm). Both empty for a line priced for a full term.
    coterm_months = models.PositiveSmallIntegerField(_("months charged (co-terming)"), null=True, blank=True)
    coterm_until = models.DateField(_("ends with the term on"), null=True, blank=True)

    class Meta:
        ordering = ["order", "position"]
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        constraints = [
            models.UniqueConstraint(fields=["order", "position"], name="unique_line_position"),
            models.UniqueConstraint(fields=["order", "product"], name="unique_product_per_order"),
        ]

    def __str__(self) -> str:
        return f"{self.order.number} #{self.position} {self.sku} × {self.quantity}"

    @property
    def ledger_reference(self) -> str:
        """The seat-ledger and license-key reference of this line: what makes provisioning count once."""
        return f"order-line:{self.pk}"


class OrderEvent(AuditEvent):
    """The order's timeline and audit trail: one row per status change or action (orderdesk.audit)."""

    class Action(models.TextChoices):
        RECEIVED = "received", pgettext_lazy("order history", "Received")
        VALIDATED = "validated", pgettext_lazy("order history", "Rules checked")
        APPROVED = "approved", pgettext_lazy("order history", "Approved")
        HELD = "held", pgettext_lazy("order history", "Held for review")
        REJECTED = "rejected", pgettext_lazy("order history", "Rejected")
        PROVISIONING = "provisioning", pgettext_lazy("order history", "Provisioning started")
        PROVISIONED = "provisioned", pgettext_lazy("order history", "Seats provisioned")
        COMPLETED = "completed", pgettext_lazy("order history", "Quote PDF issued, completed")
        FAILED = "failed", pgettext_lazy("order history", "Failed")
        RETRIED = "retried", pgettext_lazy("order history", "Retried")
        CANCELLED = "cancelled", pgettext_lazy("order history", "Cancelled")
        CLAIMED = "claimed", pgettext_lazy("order history", "Claimed")
        RELEASED = "released", pgettext_lazy("order history", "Released")
        EDITED = "edited", pgettext_lazy("order history", "Lines edited")
        REQUEUED = "requeued", pgettext_lazy("order history", "Re-enqueued")
        NOTED = "noted", pgettext_lazy("order history", "Note")

    SUBJECT_FIELD = "order"

    action = models.CharField(_("action"), max_length=32, choices=Action.choices)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")

    class Meta:
        ordering = ["order", "created_at", "id"]
        verbose_name = _("order event")
        verbose_name_plural = _("order events")

    def __str__(self) -> str:
        return f"{self.order.number}: {self.action}"


def order_document_path(document: "OrderDocument", filename: str) -> str:
    # Kept for the migrations: the pipeline names each file itself, after its
    # content's hash (orders.services.documents), and records that name.
    return f"orders/{document.order.number}/{document.kind}.pdf"


class OrderDocument(models.Model):
    """A rendered document of an order, stored through Django's default storage. Never edited."""

    class Kind(models.TextChoices):
        QUOTE = "quote", _("Quote (御見積書)")

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="documents")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    file = models.FileField(_("file"), upload_to=order_document_path, max_length=200)
    content_type = models.CharField(_("content type"), max_length=100, default="application/pdf")
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["order", "kind"]
        verbose_name = _("order document")
        verbose_name_plural = _("order documents")
        constraints = [
            models.UniqueConstraint(fields=["order", "kind"], name="unique_document_kind_per_order"),
        ]

    def __str__(self) -> str:
        return f"{self.order.number} {self.kind}"


class BacklogPreference(models.Model):
    """How one person likes the backlog shown; remembered across sessions and devices."""

    class Density(models.TextChoices):
        DENSE = "dense", _("Dense")
        COMFORTABLE = "comfortable", _("Comfortable")

    user = models.OneToOneField(settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="backlog_preference")
    density = models.CharField(_("row density"), max_length=16, choices=Density.choices, default=Density.DENSE)

    class Meta:
        verbose_name = _("backlog preference")
        verbose_name_plural = _("backlog preferences")

    def __str__(self) -> str:
        return f"{self.user}: {self.density}"


def order_import_path(record: "OrderImport", filename: str) -> str:
    return f"imports/{record.file_sha256}/{filename}"


class OrderImport(models.Model):
    """One spreadsheet of orders a person uploaded: its file, its preview, then its run (orders.services.imports).

    The orders themselves are born through orders.services.intake.order_submit;
    this record says who brought them, from which file, and how it went. The run
    moves `next_group` forward in the same transaction as the orders it creates,
    so a run killed midway resumes where it stopped, without doubles.
    """

    class Status(models.TextChoices):
        CHECKING = "checking", _("Checking the file")
        PREVIEWED = "previewed", _("Previewed")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    # None for `manage.py import_orders` run without --user (the actor is then the command).
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("imported by"), on_delete=models.SET_NULL, null=True, blank=True,
        related_name="order_imports",
    )
    created_at = models.DateTimeField(_("uploaded"), default=timezone.now)
    file = models.FileField(_("file"), upload_to=order_import_path, max_length=300)
    file_name = models.CharField(_("file name"), max_length=255)
    file_sha256 = models.CharField(_("SHA-256"), max_length=64)
    sheet = models.CharField(_("sheet"), max_length=100, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PREVIEWED)
    # What the preview found (orders.services.imports.ImportPreview.summary()).
    preview = models.JSONField(_("preview"), default=dict, blank=True)
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    orders_total = models.PositiveIntegerField(_("orders in the file"), default=0)
    # The run's progress: groups (orders of the file) done, and the rows they hold.
    next_group = models.PositiveIntegerField(_("orders done"), default=0)
    rows_done = models.PositiveIntegerField(_("rows done"), default=0)
    created_count = models.PositiveIntegerField(_("created"), default=0)
    skipped_count = models.PositiveIntegerField(_("skipped"), default=0)
    failed_count = models.PositiveIntegerField(_("failed"), default=0)
    # One entry per failed row: {"row", "column", "message", "values": {column: text}}.
    failed_rows = models.JSONField(_("failed rows"), default=list, blank=True)
    error = models.TextField(_("error"), blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("order import")
        verbose_name_plural = _("order imports")

    def __str__(self) -> str:
        return f"{self.file_name} ({self.created_at:%Y-%m-%d %H:%M})"
