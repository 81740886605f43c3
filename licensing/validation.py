"""Validating a license key, and the work-hours record the unions asked for.

Every validation of a key whose customer has an active work-hours policy
leaves a trace, with bounded volume:

- outside working hours (OUTSIDE_WORKING_HOURS, warn or block): one row
  (OutsideHoursValidation: key, moment, decision, mode);
- inside (VALID): one counter per key and day goes up by one
  (ValidationDayCount).

Either is one statement in the validation's request, committed before the
answer is sent: nothing the record holds lives only in a process's memory.
Its commit does not wait for the disk flush (see _RECORD_COMMIT below for why
the record stays trustworthy).

Other answers (UNKNOWN_KEY, SUSPENDED, EXPIRED, SEAT_LIMIT) and customers
without a policy leave nothing. Rows and counters older than
WORK_HOURS_RECORD_RETENTION_DAYS are pruned daily (licensing.tasks).

A device chooses neither its key's customer nor its clock: the moment judged
is the server's, unless the device's `at` is within
LICENSE_VALIDATE_CLOCK_TOLERANCE_SECONDS of it (device_moment).
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from licensing.calendars import aware
from licensing.models import JAPAN, Customer, OutsideHoursValidation, ValidationDayCount
from licensing.selectors import DecisionCode, KeyCheck, KeyFacts, LicenseDecision, license_key_check
from orderdesk.db import delete_in_batches, fetch_one, no_flush_wait_column


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
    """Write the work-hours record of one validation (see the module's docstring): one statement, or none."""
    facts = check.facts
    if facts is None or facts.calendar is None or settings.ORDERDESK_BENCH_SKIP_WORK_HOURS_RECORD:
        return
    zone = facts.calendar.zone
    if check.decision.code == DecisionCode.OUTSIDE_WORKING_HOURS:
        _insert_outside_hours(facts=facts, at=check.at, zone_name=zone.key, mode=check.decision.mode, allowed=check.decision.valid)
    elif check.decision.code == DecisionCode.VALID:
        _count_allowed(license_key_id=facts.license_key_id, day=check.at.astimezone(zone).date())


# Hand-written statements, prepared once per connection on PostgreSQL (orderdesk.db), as the read:
# a device's validation is on the hot path, and the ORM's compilation cost more than the insert.
#
# The record's commit does not wait for PostgreSQL to flush its write-ahead log to disk
# (synchronous_commit off for that one statement's transaction: orderdesk.db.no_flush_wait_column).
# That wait was the record's whole cost (+16 to +52 % per validation, bench/README.md "Validation").
# Why the unions' record stays trustworthy:
# - The row is committed before the answer leaves, by the statement itself: it is in PostgreSQL,
#   visible at once to the monthly CSV and the staff counts. Nothing is held in a web process, so
#   a killed or timed-out worker, a client gone, or an error later in the request loses nothing
#   (buffered appends in the web process would lose exactly those).
# - Only a crash of the database server itself (PostgreSQL, the machine, its power) within the
#   WAL writer's flush interval (at most 3 × wal_writer_delay: 0.6 s by default) can lose a
#   record whose answer was given. Such a crash is logged by PostgreSQL, so a gap can only sit
#   just before a known moment; the log is replayed in order, so what is lost is whole rows, the
#   last ones before the crash, never a partial or reordered record, and the first flushed
#   commit after ours (any order, any later record row) makes ours durable too.
# - A row exists only for a validation that was answered from it (the statement runs before the
#   answer), so the record never shows a validation that did not happen.
# Inside an enclosing transaction (a test's, or any caller's atomic()) the
# column is empty and the enclosing commit waits for its flush as usual.
_RECORD_COMMIT = "{no_flush_wait}"
_OUTSIDE_HOURS_SQL = (
    f"INSERT INTO {OutsideHoursValidation._meta.db_table} (customer_id, license_key_id, at, time_zone, mode, allowed) "
    "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id" + _RECORD_COMMIT
)
# One upsert on PostgreSQL and SQLite alike; the unique constraint makes concurrent counts add up.
_COUNT_SQL = (
    f"INSERT INTO {ValidationDayCount._meta.db_table} AS counted (license_key_id, day, allowed) VALUES (%s, %s, 1) "
    "ON CONFLICT (license_key_id, day) DO UPDATE SET allowed = counted.allowed + 1 RETURNING allowed" + _RECORD_COMMIT
)


def _insert_outside_hours(*, facts: KeyFacts, at: datetime, zone_name: str, mode: str, allowed: bool) -> None:
    moment = connection.ops.adapt_datetimefield_value(at)  # SQLite: naive UTC text, as the ORM stores it
    sql = _OUTSIDE_HOURS_SQL.format(no_flush_wait=no_flush_wait_column())
    fetch_one(sql, [facts.customer_id, facts.license_key_id, moment, zone_name, mode, allowed])


def _count_allowed(*, license_key_id: int, day: date) -> None:
    fetch_one(_COUNT_SQL.format(no_flush_wait=no_flush_wait_column()), [license_key_id, connection.ops.adapt_datefield_value(day)])


def work_hours_record_prune(*, now: datetime | None = None, batch: int = 5000) -> int:
    """Delete record rows and day counters older than the retention; returns how many. Safe to repeat."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.WORK_HOURS_RECORD_RETENTION_DAYS)
    deleted = delete_in_batches(OutsideHoursValidation.objects.filter(at__lt=cutoff), batch)
    # A day counter goes with the days before the cutoff's (as a date in Japan; a counter's day is its policy's).
    deleted += delete_in_batches(ValidationDayCount.objects.filter(day__lt=cutoff.astimezone(JAPAN).date()), batch)
    return deleted
