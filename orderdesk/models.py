"""Infrastructure tables shared by the apps: document numbers, idempotency keys, worker heartbeats, user preferences."""

from django.db import models


class NumberSequence(models.Model):
    """The last number handed out for one series, e.g. ("O", 2026).

    Allocation locks this one row for a moment (see orderdesk.numbering); the
    unique constraints on the numbered tables are the final guarantee.
    """

    prefix = models.CharField(max_length=8)
    year = models.PositiveSmallIntegerField()
    last_value = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["prefix", "year"], name="unique_sequence_per_year")]

    def __str__(self) -> str:
        return f"{self.prefix}-{self.year}: {self.last_value}"


class IdempotencyRecord(models.Model):
    """One customer's use of one Idempotency-Key, and the response it got.

    The row is committed before the request is processed: a second request
    with the same key then finds it (in flight → 409, finished → replay).
    """

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight"
        FINISHED = "finished"

    # Indexed by unique_idempotency_key_per_customer, which starts with it.
    customer = models.ForeignKey("licensing.Customer", on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_FLIGHT)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    response_headers = models.JSONField(default=dict)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "key"], name="unique_idempotency_key_per_customer")]

    def __str__(self) -> str:
        return f"{self.customer_id}:{self.key} ({self.state})"


class WorkerHeartbeat(models.Model):
    """The last sign of life of one Celery worker (orderdesk.heartbeat writes it every WORKER_HEARTBEAT_SECONDS).

    Kept in the database, which every web process and worker already shares,
    so /readyz and the dashboard see every worker on every host.
    """

    name = models.CharField(max_length=200, unique=True)  # the worker's node name, e.g. celery@host
    pid = models.PositiveIntegerField()
    queues = models.CharField(max_length=200, blank=True)
    concurrency = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)
    # Set when the worker shut down cleanly; a worker that died just stops beating.
    stopped_at = models.DateTimeField(null=True, blank=True)
    active_tasks = models.PositiveIntegerField(default=0)
    tasks_done = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} (seen {self.seen_at:%H:%M:%S})"


class UserPreference(models.Model):
    """What a staff user chose for themselves: today the language of the pages and of e-mail sent to them."""

    user = models.OneToOneField("auth.User", on_delete=models.CASCADE, related_name="preference")
    # Empty: never chose; Japanese, the staff default.
    language = models.CharField(max_length=8, blank=True, choices=[("ja", "日本語"), ("en", "English")])

    def __str__(self) -> str:
        return f"{self.user}: {self.language or '-'}"
