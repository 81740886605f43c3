"""The control room's own tables: rollups of the orders, and which digests went to whom."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class OrderRollup(models.Model):
    """What happened to the orders in one span of time (a minute, five minutes, an hour).

    Filled by control.rollups from the orders every minute (Celery beat); the
    dashboard, the digest and /metrics read these rows, never the orders
    themselves, so what they cost does not grow with the number of orders.
    Counts are of orders: `received` by the time an order arrived, the final
    states (`completed`, `rejected`, `cancelled`) and `failed` by the time it
    got there; `straight_through` and `held` (the rules' verdict) by the time
    the order arrived.
    """

    class Span(models.IntegerChoices):
        MINUTE = 60, _("minute")
        FIVE_MINUTES = 300, _("5 minutes")
        HOUR = 3600, _("hour")

    span = models.PositiveIntegerField(_("span"), choices=Span.choices)
    start = models.DateTimeField(_("start"))
    received = models.PositiveIntegerField(_("received"), default=0)
    completed = models.PositiveIntegerField(_("completed"), default=0)
    rejected = models.PositiveIntegerField(_("rejected"), default=0)
    cancelled = models.PositiveIntegerField(_("cancelled"), default=0)
    # Orders that went `failed` in the span (seen failed when the span was rolled up).
    failed = models.PositiveIntegerField(_("failed"), default=0)
    # Of the orders received in the span: approved by the rules without a person, or held for one.
    straight_through = models.PositiveIntegerField(_("straight through"), default=0)
    held = models.PositiveIntegerField(_("held for a person"), default=0)
    # Of them, the ones the rules had not checked yet: this minute is counted again until none is left.
    unchecked = models.PositiveIntegerField(_("not checked yet"), default=0)
    # Orders not in a final state at the end of the span (at the time of the rollup for the current one).
    open_at_end = models.PositiveIntegerField(_("open at the end"), default=0)
    # The backlog (orders needing a person) when the span was last rolled up while current; None if never.
    needs_person_at_end = models.PositiveIntegerField(_("backlog at the end"), null=True, blank=True)
    # With it, the backlog's counts (orders.backlog.BacklogCounts: by state, reason, age band) as /metrics shows them.
    backlog = models.JSONField(_("backlog counts"), null=True, blank=True)
    # Orders completed in the span, counted by how long they took from received to completed:
    # one count per bound of control.rollups.COMPLETION_BOUNDS_SECONDS, and one for longer.
    completion_seconds = models.JSONField(_("completion times"), default=list)
    # {"api": {"received": 3, "completed": 2, …}, …}: the counts above by the order's source.
    by_source = models.JSONField(_("by source"), default=dict)
    # Minute rows only: by_source added up over every minute since the first rollup (the /metrics counters).
    totals = models.JSONField(_("running totals"), default=dict)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["span", "start"]
        verbose_name = _("order rollup")
        verbose_name_plural = _("order rollups")
        constraints = [models.UniqueConstraint(fields=["span", "start"], name="one_rollup_per_span_start")]
        # The few minutes whose orders still wait for the rules (control.rollups finds the oldest).
        indexes = [models.Index(fields=["start"], name="rollup_unchecked_minutes", condition=models.Q(unchecked__gt=0))]

    def __str__(self) -> str:
        return f"{self.get_span_display()} {self.start:%Y-%m-%d %H:%M}"

    @property
    def cleared(self) -> int:
        """Orders that reached a final state in the span."""
        return self.completed + self.rejected + self.cancelled


class DigestDelivery(models.Model):
    """The daily digest of `day` went to `user`: sending again the same day sends nothing twice."""

    day = models.DateField(_("day"))
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    language = models.CharField(_("language"), max_length=8)
    sent_at = models.DateTimeField(_("sent"), auto_now_add=True)

    class Meta:
        ordering = ["-day", "user"]
        verbose_name = _("digest delivery")
        verbose_name_plural = _("digest deliveries")
        constraints = [models.UniqueConstraint(fields=["day", "user"], name="one_digest_per_day_and_user")]

    def __str__(self) -> str:
        return f"{self.day} → {self.user}"
