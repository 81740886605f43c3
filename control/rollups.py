"""Rolling the orders up into per-minute counts (control.models.OrderRollup), every minute.

`orders_rollup` recomputes the minutes from a little before the last rollup
(ROLLUP_RESETTLE: an order committed a moment after its minute was first
rolled up is counted on the next run) up to the current minute, from a few
grouped queries over the orders of that window only:

- received, and the rules' verdict (straight through or held), by the minute
  an order arrived. The window reaches back to the oldest minute with orders
  the rules had not checked yet, so a verdict given late still lands there;
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
from dataclasses import asdict, dataclass, field
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
COARSE_SPANS = (Span.FIVE_MINUTES, Span.HOUR)
# Upper bounds (seconds) of the completion-time counts: received → completed.
COMPLETION_BOUNDS_SECONDS = (10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 86400, 259200)
FINISHED = (Status.COMPLETED, Status.REJECTED, Status.CANCELLED)
# The rules approved it without a person: it went on from `approved` with no review reason.
PASSED_STATUSES = (Status.APPROVED, Status.PROVISIONING, Status.DOCUMENTING, Status.COMPLETED)
UNCHECKED_STATUSES = (Status.RECEIVED, Status.VALIDATED)
COUNTS = ("received", "completed", "rejected", "cancelled", "failed", "straight_through", "held", "unchecked")
SOURCE_COUNTS = ("received", "completed", "rejected", "cancelled", "failed")


def floor_time(moment: datetime, seconds: int) -> datetime:
    """The start of the span of `seconds` that holds `moment` (Japan's offset is whole hours: spans align there too)."""
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


@dataclass(slots=True)
class Counts:
    """What happened in one minute (or, added up, a longer span), before it is written as an OrderRollup."""

    received: int = 0
    completed: int = 0
    rejected: int = 0
    cancelled: int = 0
    failed: int = 0
    straight_through: int = 0
    held: int = 0
    unchecked: int = 0
    completion_seconds: list = field(default_factory=lambda: [0] * (len(COMPLETION_BOUNDS_SECONDS) + 1))
    by_source: dict = field(default_factory=dict)

    @property
    def cleared(self) -> int:
        return self.completed + self.rejected + self.cancelled

    def count(self, source: str, name: str, orders: int) -> None:
        setattr(self, name, getattr(self, name) + orders)
        if name in SOURCE_COUNTS:
            counts = self.by_source.setdefault(source, dict.fromkeys(SOURCE_COUNTS, 0))
            counts[name] += orders

    def add(self, other: "Counts") -> None:
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.completion_seconds = [a + b for a, b in zip(self.completion_seconds, other.completion_seconds)]
        for source, counts in other.by_source.items():
            mine = self.by_source.setdefault(source, dict.fromkeys(SOURCE_COUNTS, 0))
            for name, value in counts.items():
                mine[name] = mine.get(name, 0) + value

    @classmethod
    def of(cls, row: OrderRollup) -> "Counts":
        counts = cls(**{name: getattr(row, name) for name in COUNTS}, by_source={s: dict(c) for s, c in row.by_source.items()})
        if row.completion_seconds:
            counts.completion_seconds = list(row.completion_seconds)
        return counts


@dataclass(frozen=True)
class RollupResult:
    start: datetime
    end: datetime
    minutes: int
    open_now: int


def orders_rollup(*, now: datetime | None = None, since: datetime | None = None) -> RollupResult:
    """Roll the orders up from `since` (default: a little before the last rollup) to the current minute.

    Minute rows are written for the last DASHBOARD_MINUTE_ROLLUP_RETENTION_HOURS
    only; the five-minute and hour rows (kept DASHBOARD_ROLLUP_RETENTION_DAYS)
    for every span the window touched. A backfill (`since`, or the first run)
    starts on the hour, so it rewrites whole hours.
    """
    now = now or timezone.now()
    current = floor_time(now, Span.MINUTE)
    start = floor_time(since, Span.HOUR) if since else _window_start(current)
    with _one_snapshot():
        arrived = _arrivals(start, now)
        finished = _finishes(start, now)
        failed = _failures(start, now)
        open_now = Order.objects.filter(status__in=OPEN_STATUSES).count()
        backlog = shared_backlog_counts(now=now)
        base_totals = _totals_before(start)
    activity = _activity(start, current, arrived, finished, failed)
    keep_from = now - timedelta(hours=settings.DASHBOARD_MINUTE_ROLLUP_RETENTION_HOURS)
    minutes, open_at_end = _minute_rows(start, current, activity, open_now, base_totals, keep_from=keep_from)
    if minutes and minutes[-1].start == current:
        minutes[-1].needs_person_at_end = backlog.total
        minutes[-1].backlog = asdict(backlog)
    with transaction.atomic():
        _save(minutes, current_fields=("needs_person_at_end", "backlog"))
        for span in COARSE_SPANS:
            _save(_coarse_rows(span, start, current, activity, open_at_end, backlog.total), current_fields=("needs_person_at_end",))
        _purge(now, keep_from)
    return RollupResult(start=start, end=current, minutes=int((current - start).total_seconds() // 60) + 1, open_now=open_now)


def _window_start(current: datetime) -> datetime:
    """From ROLLUP_RESETTLE before the last minute rolled up, or earlier for orders the rules have not checked yet."""
    bounds = OrderRollup.objects.filter(span=Span.MINUTE).aggregate(first=Min("start"), last=Max("start"))
    if bounds["last"] is None:
        return floor_time(current - timedelta(days=settings.DASHBOARD_ROLLUP_BACKFILL_DAYS), Span.HOUR)
    start = min(bounds["last"], current) - ROLLUP_RESETTLE
    waiting_minute = OrderRollup.objects.filter(span=Span.MINUTE, unchecked__gt=0).aggregate(oldest=Min("start"))["oldest"]
    # An order sent back to the start (a failed one retried) waits again, under a minute that had none waiting.
    oldest_unchecked = Order.objects.filter(status__in=UNCHECKED_STATUSES).aggregate(oldest=Min("created_at"))["oldest"]
    for oldest in (waiting_minute, oldest_unchecked):
        if oldest is not None:
            start = min(start, floor_time(oldest, Span.MINUTE))
    # Not before the oldest minute row kept: the running totals and the spans' sums carry on from the rows before.
    # Nor further back than a first run (after beat stood still for weeks: the weeks before are not recounted).
    return max(start, bounds["first"], floor_time(current - timedelta(days=settings.DASHBOARD_ROLLUP_BACKFILL_DAYS), Span.HOUR))


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
            unchecked=Count("pk", filter=Q(status__in=UNCHECKED_STATUSES)),
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
    """The running totals up to the minute before `start`: that row's, or counted from the orders (first run, after a gap)."""
    previous = OrderRollup.objects.filter(span=Span.MINUTE, start=start - timedelta(minutes=1)).values_list("totals", flat=True).first()
    if previous is not None:
        return previous
    totals: dict = defaultdict(lambda: dict.fromkeys(SOURCE_COUNTS, 0))
    for row in Order.objects.filter(created_at__lt=start).order_by().values("source").annotate(orders=Count("pk")):
        totals[row["source"]]["received"] += row["orders"]
    finished = Order.objects.filter(status__in=FINISHED, status_changed_at__lt=start).order_by().values("source", "status")
    for row in finished.annotate(orders=Count("pk")):
        totals[row["source"]][row["status"]] += row["orders"]
    return {source: dict(counts) for source, counts in totals.items()}


def _activity(start, current, arrived, finished, failed) -> dict[datetime, Counts]:
    """The minutes in which something happened, with what happened; the quiet ones are left out."""
    activity: dict[datetime, Counts] = defaultdict(Counts)

    def at(minute: datetime) -> Counts:
        return activity[min(max(minute, start), current)]  # a clock a little ahead lands in the current minute

    for group in arrived:
        counts = at(group["minute"])
        counts.count(group["source"], "received", group["received"])
        for name in ("straight_through", "held", "unchecked"):
            counts.count(group["source"], name, group[name])
    for group in finished:
        counts = at(group["minute"])
        counts.count(group["source"], group["status"], group["orders"])
        if group["status"] == Status.COMPLETED:
            counts.completion_seconds[group["bucket"]] += group["orders"]
    for group in failed:
        at(group["minute"]).count(group["source"], "failed", group["orders"])
    # A failed order may be retried before the next run: a minute keeps the most failures it was seen with.
    for minute, by_source in OrderRollup.objects.filter(span=Span.MINUTE, start__gte=start).values_list("start", "by_source"):
        for source, counts in by_source.items():
            seen, now_seen = counts.get("failed", 0), activity[minute].by_source.get(source, {}).get("failed", 0) if minute in activity else 0
            if seen > now_seen:
                at(minute).count(source, "failed", seen - now_seen)
    return dict(activity)


def _minute_rows(start, current, activity, open_now, base_totals, *, keep_from) -> tuple[list[OrderRollup], dict[datetime, int]]:
    """The minute rows to write (those since `keep_from`), and the open count at the end of every minute.

    Open at the end of a minute = open now − what arrived after it + what cleared after it.
    """
    minutes = []
    moment = start
    while moment <= current:
        minutes.append(moment)
        moment += timedelta(minutes=1)
    open_at_end, open_count = {}, open_now
    for minute in reversed(minutes):
        open_at_end[minute] = max(open_count, 0)
        counts = activity.get(minute)
        if counts is not None:
            open_count -= counts.received - counts.cleared
    rows, totals = [], {source: dict(counts) for source, counts in base_totals.items()}
    for minute in minutes:
        counts = activity.get(minute) or Counts()
        for source, by_name in counts.by_source.items():
            running = totals.setdefault(source, dict.fromkeys(SOURCE_COUNTS, 0))
            for name, value in by_name.items():
                running[name] = running.get(name, 0) + value
        if minute >= keep_from or minute == current:
            rows.append(_row(Span.MINUTE, minute, counts, open_at_end[minute], totals={s: dict(c) for s, c in totals.items()}))
    return rows, open_at_end


def _row(span: int, start: datetime, counts: Counts, open_at_end: int, totals=None) -> OrderRollup:
    return OrderRollup(
        span=span, start=start, **{name: getattr(counts, name) for name in COUNTS}, open_at_end=open_at_end,
        completion_seconds=counts.completion_seconds, by_source=counts.by_source, totals=totals or {},
    )  # fmt: skip


def _coarse_rows(span: int, start: datetime, current: datetime, activity, open_at_end, backlog_total: int) -> list[OrderRollup]:
    """The `span` rows the window touched, added up from its minutes.

    A span that began before the window adds the minute rows before `start`
    from the table; one whose earlier minutes are no longer kept is left as it is.
    """
    first_bucket = floor_time(start, span)
    earlier = list(OrderRollup.objects.filter(span=Span.MINUTE, start__gte=first_bucket, start__lt=start).order_by("start"))
    if first_bucket < start and (not earlier or earlier[0].start > first_bucket):
        first_bucket += timedelta(seconds=span)  # its first minutes were purged: leave that span alone
    sums: dict[datetime, Counts] = {}
    bucket = first_bucket
    while bucket <= current:
        sums[bucket] = Counts()
        bucket += timedelta(seconds=span)
    for row in earlier:
        if row.start >= first_bucket:
            sums[floor_time(row.start, span)].add(Counts.of(row))
    for minute, counts in activity.items():
        if minute >= first_bucket:
            sums[floor_time(minute, span)].add(counts)
    rows = []
    for bucket, counts in sums.items():
        last_minute = min(bucket + timedelta(seconds=span - 60), current)
        row = _row(span, bucket, counts, open_at_end.get(last_minute, 0))
        if last_minute == current:
            row.needs_person_at_end = backlog_total
        rows.append(row)
    return rows


ROW_FIELDS = [*COUNTS, "open_at_end", "completion_seconds", "by_source", "totals", "updated_at"]


def _save(rows: list[OrderRollup], *, current_fields: tuple[str, ...]) -> None:
    """Insert or update the rows. Only the newest also writes `current_fields`: an older span keeps the backlog count it had."""
    if not rows:
        return
    now = timezone.now()
    for row in rows:
        row.updated_at = now
    older, newest = rows[:-1], rows[-1:]
    if older:
        OrderRollup.objects.bulk_create(older, update_conflicts=True, unique_fields=["span", "start"], update_fields=ROW_FIELDS, batch_size=2000)
    OrderRollup.objects.bulk_create(newest, update_conflicts=True, unique_fields=["span", "start"], update_fields=[*ROW_FIELDS, *current_fields])


def _purge(now: datetime, keep_minutes_from: datetime) -> None:
    OrderRollup.objects.filter(span=Span.MINUTE, start__lt=keep_minutes_from).delete()
    OrderRollup.objects.filter(start__lt=now - timedelta(days=settings.DASHBOARD_ROLLUP_RETENTION_DAYS)).delete()
