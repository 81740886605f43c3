"""Rolling the orders up into per-minute counts (control.models.OrderRollup), every minute.

`orders_rollup` recomputes the minutes from a little before the last rollup
(ROLLUP_RESETTLE: an order committed a moment after its minute was first
rolled up is counted on the next run) up to the current minute, from a few
grouped queries over the orders of that window only:

- received, and the rules' verdict (straight through or held), by the minute
  an order arrived. The window reaches back to the oldest order the rules
  have not checked yet, so a verdict given late still lands on its minute;
- completed, rejected, cancelled (final, so counted once and for all) and
  failed, by the minute the order got there, with the completion times;
- the open orders (not final) now, from which each minute's open count
  follows exactly: open at the end of minute m = open now − received after m
  + cleared after m. On PostgreSQL the reads share one snapshot, so the
  numbers add up to the order;
- the backlog (orders needing a person), as counted now, for the current minute.

Then the five-minute and hour rows the window touched are added up again
from their minutes. What the dashboard reads is a few hundred of these rows,
whatever the number of orders.
"""

import logging
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, Count, DurationField, ExpressionWrapper, F, IntegerField, Max, Min, Q, Value, When
from django.db.models.functions import TruncMinute
from django.utils import timezone

from control.models import OrderRollup
from orders.backlog import OPEN_STATUSES, shared_backlog_counts
from orders.models import Order

logger = logging.getLogger(__name__)

Span = OrderRollup.Span
Status = Order.Status

# Minutes before the last rollup that every run counts again.
ROLLUP_RESETTLE = timedelta(minutes=10)
# The first rollup ever reaches back this far (the dashboard's longest chart); `manage.py rollup_orders --days` further.
FIRST_BACKFILL = timedelta(days=30)
# Upper bounds (seconds) of the completion-time counts: received → completed.
COMPLETION_BOUNDS_SECONDS = (10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 86400, 259200)
FINISHED = (Status.COMPLETED, Status.REJECTED, Status.CANCELLED)
# The rules approved it without a person: it went on from `approved` with no review reason.
PASSED_STATUSES = (Status.APPROVED, Status.PROVISIONING, Status.DOCUMENTING, Status.COMPLETED)
UNCHECKED_STATUSES = (Status.RECEIVED, Status.VALIDATED)
COUNTS = ("received", "completed", "rejected", "cancelled", "failed", "straight_through", "held")
SOURCE_COUNTS = ("received", "completed", "rejected", "cancelled", "failed")


def floor_time(moment: datetime, seconds: int) -> datetime:
    """The start of the span of `seconds` that holds `moment` (Japan's offset is whole hours: spans align there too)."""
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


@dataclass(frozen=True)
class RollupResult:
    start: datetime
    end: datetime
    minutes: int
    open_now: int


def orders_rollup(*, now: datetime | None = None, since: datetime | None = None) -> RollupResult:
    """Roll the orders up from `since` (default: a little before the last rollup) to the current minute."""
    now = now or timezone.now()
    current = floor_time(now, Span.MINUTE)
    start = floor_time(since, Span.MINUTE) if since else _window_start(current)
    with _one_snapshot():
        arrived = _arrivals(start, now)
        finished = _finishes(start, now)
        failed = _failures(start, now)
        open_now = Order.objects.filter(status__in=OPEN_STATUSES).count()
        backlog = shared_backlog_counts(now=now)
        base_totals = _totals_before(start)
    minutes = _minute_rows(start, current, arrived, finished, failed, open_now, backlog, base_totals)
    with transaction.atomic():
        _save_minutes(minutes)
        for span in (Span.FIVE_MINUTES, Span.HOUR):
            _save_coarse(span, floor_time(start, span), current)
        _purge(now)
    return RollupResult(start=start, end=current, minutes=len(minutes), open_now=open_now)


def _window_start(current: datetime) -> datetime:
    """From ROLLUP_RESETTLE before the last minute rolled up, or earlier for orders the rules have not checked yet."""
    bounds = OrderRollup.objects.filter(span=Span.MINUTE).aggregate(first=Min("start"), last=Max("start"))
    if bounds["last"] is None:
        return current - FIRST_BACKFILL
    start = min(bounds["last"], current) - ROLLUP_RESETTLE
    oldest_unchecked = Order.objects.filter(status__in=UNCHECKED_STATUSES).aggregate(oldest=Min("created_at"))["oldest"]
    if oldest_unchecked is not None:
        start = min(start, floor_time(oldest_unchecked, Span.MINUTE))
    # Never before the first rollup: the running totals carry on from the row before the window.
    return max(start, bounds["first"])


@contextmanager
def _one_snapshot():
    """PostgreSQL: the reads in one REPEATABLE READ snapshot, so that the open count and the flows agree."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _arrivals(start: datetime, now: datetime) -> list[dict]:
    """Per minute and source: orders received, and of them the ones the rules passed or held."""
    no_reasons = Q(review_reasons=[])
    return list(
        Order.objects.filter(created_at__gte=start, created_at__lte=now)
        .annotate(minute=TruncMinute("created_at"))
        .order_by()
        .values("minute", "source")
        .annotate(
            received=Count("pk"),
            straight_through=Count("pk", filter=no_reasons & Q(status__in=PASSED_STATUSES)),
            held=Count("pk", filter=~no_reasons),
        )
    )


def _finishes(start: datetime, now: datetime) -> list[dict]:
    """Per minute, source, final status and completion-time bucket: orders that reached a final state."""
    took = ExpressionWrapper(F("status_changed_at") - F("created_at"), output_field=DurationField())
    bucket = Case(
        *[When(took__lt=timedelta(seconds=bound), then=Value(index)) for index, bound in enumerate(COMPLETION_BOUNDS_SECONDS)],
        default=Value(len(COMPLETION_BOUNDS_SECONDS)),
        output_field=IntegerField(),
    )
    return list(
        Order.objects.filter(status__in=FINISHED, status_changed_at__gte=start, status_changed_at__lte=now)
        .annotate(minute=TruncMinute("status_changed_at"), took=took)
        .annotate(bucket=bucket)
        .order_by()
        .values("minute", "source", "status", "bucket")
        .annotate(orders=Count("pk"))
    )


def _failures(start: datetime, now: datetime) -> list[dict]:
    return list(
        Order.objects.filter(status=Status.FAILED, status_changed_at__gte=start, status_changed_at__lte=now)
        .annotate(minute=TruncMinute("status_changed_at"))
        .order_by()
        .values("minute", "source")
        .annotate(orders=Count("pk"))
    )


def _totals_before(start: datetime) -> dict:
    """The running totals up to the minute before `start`: that row's, or (first rollup) counted from the orders."""
    previous = OrderRollup.objects.filter(span=Span.MINUTE, start__lt=start).order_by("-start").values_list("totals", flat=True).first()
    if previous is not None:
        return previous
    totals: dict = defaultdict(lambda: dict.fromkeys(SOURCE_COUNTS, 0))
    for row in Order.objects.filter(created_at__lt=start).order_by().values("source").annotate(orders=Count("pk")):
        totals[row["source"]]["received"] += row["orders"]
    finished = Order.objects.filter(status__in=FINISHED, status_changed_at__lt=start).order_by().values("source", "status")
    for row in finished.annotate(orders=Count("pk")):
        totals[row["source"]][row["status"]] += row["orders"]
    return {source: dict(counts) for source, counts in totals.items()}


def _empty_minute(minute: datetime) -> OrderRollup:
    return OrderRollup(span=Span.MINUTE, start=minute, completion_seconds=[0] * (len(COMPLETION_BOUNDS_SECONDS) + 1), by_source={})


def _add_source(row: OrderRollup, source: str, count: str, orders: int) -> None:
    counts = row.by_source.setdefault(source, dict.fromkeys(SOURCE_COUNTS, 0))
    counts[count] += orders


def _minute_rows(start, current, arrived, finished, failed, open_now, backlog, base_totals) -> list[OrderRollup]:
    minutes: dict[datetime, OrderRollup] = {}
    moment = start
    while moment <= current:
        minutes[moment] = _empty_minute(moment)
        moment += timedelta(minutes=1)

    def row_for(minute: datetime) -> OrderRollup:
        return minutes[min(max(minute, start), current)]  # a clock a little ahead lands in the current minute

    for group in arrived:
        row = row_for(group["minute"])
        row.received += group["received"]
        row.straight_through += group["straight_through"]
        row.held += group["held"]
        _add_source(row, group["source"], "received", group["received"])
    for group in finished:
        row = row_for(group["minute"])
        setattr(row, group["status"], getattr(row, group["status"]) + group["orders"])
        _add_source(row, group["source"], group["status"], group["orders"])
        if group["status"] == Status.COMPLETED:
            row.completion_seconds[group["bucket"]] += group["orders"]
    # A failed order may be retried before the next rollup: a minute keeps the most failures it was seen with.
    seen_failed = dict(
        OrderRollup.objects.filter(span=Span.MINUTE, start__gte=start).values_list("start", "by_source")
    )
    for group in failed:
        row = row_for(group["minute"])
        row.failed += group["orders"]
        _add_source(row, group["source"], "failed", group["orders"])
    for minute, by_source in seen_failed.items():
        if minute in minutes:
            _keep_most_failures(minutes[minute], by_source)

    rows = list(minutes.values())
    open_count = open_now
    for row in reversed(rows):  # open at the end of a minute = open now − what arrived after it + what cleared after it
        row.open_at_end = max(open_count, 0)
        open_count -= row.received - row.cleared
    rows[-1].needs_person_at_end = backlog.total
    rows[-1].backlog = asdict(backlog)
    totals = {source: dict(counts) for source, counts in base_totals.items()}
    for row in rows:
        for source, counts in row.by_source.items():
            running = totals.setdefault(source, dict.fromkeys(SOURCE_COUNTS, 0))
            for name, value in counts.items():
                running[name] = running.get(name, 0) + value
        row.totals = {source: dict(counts) for source, counts in totals.items()}
    return rows


def _keep_most_failures(row: OrderRollup, previous_by_source: dict) -> None:
    for source, counts in previous_by_source.items():
        before = counts.get("failed", 0)
        now_counts = row.by_source.setdefault(source, dict.fromkeys(SOURCE_COUNTS, 0))
        if before > now_counts["failed"]:
            row.failed += before - now_counts["failed"]
            now_counts["failed"] = before


MINUTE_FIELDS = [*COUNTS, "open_at_end", "completion_seconds", "by_source", "totals", "updated_at"]


def _save_minutes(rows: list[OrderRollup]) -> None:
    """Insert or update the minute rows; an older minute keeps the backlog count it had when it was current."""
    now = timezone.now()
    for row in rows:
        row.updated_at = now
    current, older = rows[-1:], rows[:-1]
    if older:
        OrderRollup.objects.bulk_create(older, update_conflicts=True, unique_fields=["span", "start"], update_fields=MINUTE_FIELDS)
    OrderRollup.objects.bulk_create(
        current, update_conflicts=True, unique_fields=["span", "start"], update_fields=[*MINUTE_FIELDS, "needs_person_at_end", "backlog"]
    )


def _save_coarse(span: int, first: datetime, current: datetime) -> None:
    """Add up the minute rows of each `span` from `first` to the current one into its row."""
    coarse: dict[datetime, OrderRollup] = {}
    for minute in OrderRollup.objects.filter(span=Span.MINUTE, start__gte=first, start__lte=current).order_by("start"):
        bucket = floor_time(minute.start, span)
        row = coarse.get(bucket)
        if row is None:
            row = coarse[bucket] = OrderRollup(span=span, start=bucket, completion_seconds=[0] * len(minute.completion_seconds), by_source={})
        for name in COUNTS:
            setattr(row, name, getattr(row, name) + getattr(minute, name))
        row.completion_seconds = [a + b for a, b in zip(row.completion_seconds, minute.completion_seconds)]
        for source, counts in minute.by_source.items():
            for name, value in counts.items():
                _add_source(row, source, name, value)
        row.open_at_end = minute.open_at_end  # the last minute's, in start order
        if minute.needs_person_at_end is not None:
            row.needs_person_at_end = minute.needs_person_at_end
    if coarse:
        OrderRollup.objects.bulk_create(
            list(coarse.values()),
            update_conflicts=True,
            unique_fields=["span", "start"],
            update_fields=[*COUNTS, "open_at_end", "needs_person_at_end", "completion_seconds", "by_source", "updated_at"],
        )


def _purge(now: datetime) -> None:
    OrderRollup.objects.filter(start__lt=now - timedelta(days=settings.DASHBOARD_ROLLUP_RETENTION_DAYS)).delete()
