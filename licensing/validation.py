"""Validating a license key, and the work-hours record the unions asked for.

Every validation of a key whose customer has an active work-hours policy
leaves a trace, with bounded volume:

- outside working hours (OUTSIDE_WORKING_HOURS, warn or block): one row
  (OutsideHoursValidation: key, moment, decision, mode), committed like any
  other record;
- inside (VALID): one counter per key and day goes up by one
  (ValidationDayCount). The counter's commit does not wait for the disk
  (orderdesk.db.atomic_without_flush_wait): a database crash may lose the last
  fraction of a second of counts, never a row of the record.

Other answers (UNKNOWN_KEY, SUSPENDED, EXPIRED, SEAT_LIMIT) and customers
without a policy leave nothing. Rows and counters older than
WORK_HOURS_RECORD_RETENTION_DAYS are pruned daily (licensing.tasks).

A device chooses neither its key's customer nor its clock: the moment judged
is the server's, unless the device's `at` is within
LICENSE_VALIDATE_CLOCK_TOLERANCE_SECONDS of it (device_moment).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from licensing.calendars import aware
from licensing.models import JAPAN, Customer, OutsideHoursValidation, ValidationDayCount
from licensing.selectors import DecisionCode, KeyCheck, LicenseDecision, license_key_check
from orderdesk.db import atomic_without_flush_wait


@dataclass(frozen=True)
class Moment:
    at: datetime  # the moment to judge
    device_clock_used: bool


def device_moment(claimed: datetime | None, *, now: datetime | None = None) -> Moment:
    """The moment to judge a device's validation at: its own `at` only within the tolerance of the server clock."""
    now = now or timezone.now()
    if claimed is None:
        return Moment(now, device_clock_used=False)
    tolerance = timedelta(seconds=settings.LICENSE_VALIDATE_CLOCK_TOLERANCE_SECONDS)
    claimed = aware(claimed)
    if abs(claimed - now) <= tolerance:
        return Moment(claimed, device_clock_used=True)
    return Moment(now, device_clock_used=False)


def license_check(*, key: str, at: datetime | None = None, customer: Customer | None = None) -> LicenseDecision:
    """Validate `key` (a purchasing token's `customer`, or None for a device) at `at`, and record it."""
    check = license_key_check(customer=customer, key=key, at=at)
    validation_record(check)
    return check.decision


def validation_record(check: KeyCheck) -> None:
    """Write the work-hours record of one validation (see the module's docstring)."""
    if check.policy is None:
        return
    zone = check.policy.zone
    if check.decision.code == DecisionCode.OUTSIDE_WORKING_HOURS:
        OutsideHoursValidation.objects.create(
            customer_id=check.license_key.subscription.customer_id,
            license_key=check.license_key,
            at=check.at,
            time_zone=zone.key,
            mode=check.decision.mode,
            allowed=check.decision.valid,
        )
    elif check.decision.code == DecisionCode.VALID:
        _count_allowed(license_key_id=check.license_key.pk, day=check.at.astimezone(zone).date())


_TABLE = ValidationDayCount._meta.db_table


def _count_allowed(*, license_key_id: int, day) -> None:
    # One upsert on PostgreSQL and SQLite alike; the unique constraint makes concurrent counts add up.
    with atomic_without_flush_wait(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_TABLE} (license_key_id, day, allowed) VALUES (%s, %s, 1) "
            f"ON CONFLICT (license_key_id, day) DO UPDATE SET allowed = {_TABLE}.allowed + 1",
            [license_key_id, day],
        )


def work_hours_record_prune(*, now: datetime | None = None, batch: int = 5000) -> int:
    """Delete record rows and day counters older than the retention; returns how many. Safe to repeat."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.WORK_HOURS_RECORD_RETENTION_DAYS)
    deleted = _delete_in_batches(OutsideHoursValidation.objects.filter(at__lt=cutoff), batch)
    # A day counter goes with the days before the cutoff's (as a date in Japan; a counter's day is its policy's).
    deleted += _delete_in_batches(ValidationDayCount.objects.filter(day__lt=cutoff.astimezone(JAPAN).date()), batch)
    return deleted


def _delete_in_batches(queryset, batch: int) -> int:
    """Short transactions: years of rows must not hold one long lock."""
    total = 0
    while True:
        with transaction.atomic():
            ids = list(queryset.order_by().values_list("pk", flat=True)[:batch])
            if not ids:
                return total
            total += queryset.model.objects.filter(pk__in=ids).delete()[0]
