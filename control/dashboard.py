"""What the dashboard shows, read from the rollups, the backlog's shared counts and the machinery.

The time series and today's numbers come from a few hundred OrderRollup rows
(control.rollups fills them every minute), never from the orders, so the
page costs the same with a thousand orders or ten million.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from control import charts
from control.models import OrderRollup
from control.rollups import COMPLETION_BOUNDS_SECONDS, floor_time
from orderdesk import machinery
from orders.backlog import BacklogCounts, backlog_counts

Span = OrderRollup.Span


# --- The ETA to clear the open orders ------------------------------------------------------


class EtaState:
    CLEAR = "clear"  # nothing open
    CLEARING = "clearing"  # clearance outruns intake: the pile shrinks
    NOT_CLEARING = "not_clearing"  # intake keeps up with clearance or outruns it: the pile does not shrink


@dataclass(frozen=True)
class Eta:
    """When the open orders will be gone at the recent pace, and the numbers that says it."""

    state: str
    open_orders: int
    window_minutes: int
    received: int  # in the window
    cleared: int  # reached a final state in the window
    as_of: datetime
    minutes_left: float | None
    clears_at: datetime | None

    @property
    def seconds_left(self) -> float | None:
        return self.minutes_left * 60 if self.minutes_left is not None else None

    @property
    def intake_per_minute(self) -> float:
        return self.received / self.window_minutes

    @property
    def clearance_per_minute(self) -> float:
        return self.cleared / self.window_minutes

    @property
    def net_per_minute(self) -> float:
        return (self.cleared - self.received) / self.window_minutes


def backlog_eta(*, open_orders: int, received: int, cleared: int, window_minutes: int, as_of: datetime) -> Eta:
    """At the window's pace, the open orders shrink by (cleared − received) / window a minute.

    Nothing open: clear. Shrinking: the minutes until none is left. Not
    shrinking (intake as fast as clearance, or faster, or nothing moving):
    not clearing, however many are open.
    """
    net = (cleared - received) / window_minutes
    if open_orders <= 0:
        state, minutes = EtaState.CLEAR, None
    elif net <= 0:
        state, minutes = EtaState.NOT_CLEARING, None
    else:
        state, minutes = EtaState.CLEARING, open_orders / net
    return Eta(
        state=state, open_orders=max(open_orders, 0), window_minutes=window_minutes, received=received, cleared=cleared,
        as_of=as_of, minutes_left=minutes, clears_at=as_of + timedelta(minutes=minutes) if minutes is not None else None,
    )  # fmt: skip


def eta_from_minutes(minutes: list[OrderRollup], *, window_minutes: int, current: datetime) -> Eta:
    """The ETA from the minute rollups: the window's complete minutes before `current`, the open count now."""
    window = [row for row in minutes if current - timedelta(minutes=window_minutes) <= row.start < current]
    latest = max(minutes, key=lambda row: row.start, default=None)
    return backlog_eta(
        open_orders=latest.open_at_end if latest else 0,
        received=sum(row.received for row in window),
        cleared=sum(row.cleared for row in window),
        window_minutes=window_minutes,
        as_of=latest.updated_at if latest else current,
    )


# --- Completion times ---------------------------------------------------------------------


def completion_percentile(counts: list[int], fraction: float) -> float | None:
    """Seconds within which `fraction` of the orders completed, interpolated inside the bucket it falls in.

    None when nothing completed; the last bucket has no upper bound, so a
    percentile that falls there is given as its lower bound (at least that long).
    """
    total = sum(counts)
    if not total:
        return None
    rank, seen, lower = fraction * total, 0, 0.0
    for index, count in enumerate(counts):
        upper = COMPLETION_BOUNDS_SECONDS[index] if index < len(COMPLETION_BOUNDS_SECONDS) else None
        if count and seen + count >= rank:
            if upper is None:
                return lower
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
        lower = float(upper) if upper is not None else lower
    return lower


def beyond_last_bound(seconds: float | None) -> bool:
    return seconds is not None and seconds >= COMPLETION_BOUNDS_SECONDS[-1]


# --- The whole page ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Today:
    received: int
    completed: int
    cleared: int  # completed, rejected or cancelled
    failed: int
    straight_through: int
    held: int
    p50_seconds: float | None
    p95_seconds: float | None

    @property
    def rejected_or_cancelled(self) -> int:
        return self.cleared - self.completed

    @property
    def checked(self) -> int:
        return self.straight_through + self.held

    @property
    def straight_through_percent(self) -> float | None:
        return 100 * self.straight_through / self.checked if self.checked else None


@dataclass(frozen=True)
class Dashboard:
    now: datetime
    rolled_up_at: datetime | None
    eta: Eta
    today: Today
    failed_last_hour: int
    counts: BacklogCounts
    charts_html: str
    queues: list[machinery.QueueState] | None
    broker_error: str
    workers: list[machinery.WorkerState]
    errors: machinery.RecentErrors | None

    @property
    def live_workers(self) -> int:
        return sum(worker.live for worker in self.workers)

    @property
    def oldest_message_seconds(self) -> float | None:
        ages = [queue.oldest_age_seconds for queue in self.queues or [] if queue.oldest_age_seconds is not None]
        return max(ages) if ages else None


@dataclass(slots=True)
class Point:
    """One rollup row, as the page needs it: read as plain values, not as a model (a page reads a thousand)."""

    start: datetime
    received: int
    cleared: int
    failed: int
    open_at_end: int
    needs_person_at_end: int | None
    straight_through: int
    held: int
    updated_at: datetime


POINT_COLUMNS = (
    "start", "received", "completed", "rejected", "cancelled", "failed", "open_at_end", "needs_person_at_end",
    "straight_through", "held", "updated_at",
)  # fmt: skip


def _points(span: int, since: datetime) -> list[Point]:
    rows = OrderRollup.objects.filter(span=span, start__gte=since).order_by("start").values_list(*POINT_COLUMNS)
    return [
        Point(start, received, completed + rejected + cancelled, failed, open_at_end, needs_person, straight, held, updated)
        for start, received, completed, rejected, cancelled, failed, open_at_end, needs_person, straight, held, updated in rows
    ]


def _spans(first: datetime, last: datetime, span: int) -> list[datetime]:
    starts, moment = [], first
    while moment <= last:
        starts.append(moment)
        moment += timedelta(seconds=span)
    return starts


def dashboard(*, user, now: datetime | None = None) -> Dashboard:
    """Everything on the dashboard. A fixed number of queries and round trips, whatever the volume."""
    now = now or timezone.now()
    rolled_up_at = (
        OrderRollup.objects.filter(span=Span.MINUTE).order_by("-start").values_list("updated_at", flat=True).first()
    )
    history = _history(now=now, rolled_up_at=rolled_up_at)
    queues, broker_error = None, ""
    try:
        queues = machinery.queue_states()
    except machinery.BrokerUnreachable as error:
        broker_error = str(error)
    return Dashboard(
        now=now,
        rolled_up_at=rolled_up_at,
        eta=history.eta,
        today=history.today,
        failed_last_hour=history.failed_last_hour,
        counts=backlog_counts(user=user, now=now),
        charts_html=history.charts_html,
        queues=queues,
        broker_error=broker_error,
        workers=machinery.worker_states(now=now),
        errors=machinery.recent_task_errors(),
    )


# Part of the cache key: change it when History changes, so that no process reads a copy of the old shape.
HISTORY_VERSION = 3


@dataclass(frozen=True)
class History:
    """What the page shows from the rollups: it changes only when they do."""

    eta: Eta
    failed_last_hour: int
    today: Today
    # The four charts as the page shows them (control/_charts.html): drawn once per rollup, then only copied.
    charts_html: str


def _history(*, now: datetime, rolled_up_at: datetime | None) -> History:
    """The ETA, today's numbers and the four charts, from about a thousand rollup rows: once per rollup and language.

    They change only when the rollup runs (every minute) and when a new
    five-minute span begins, so everyone watching shares one copy in the cache
    until then, instead of each refresh reading and drawing the same rows again.
    """
    key = f"dashboard:history:v{HISTORY_VERSION}:{translation.get_language()}:{floor_time(now, Span.FIVE_MINUTES):%Y%m%d%H%M}:{rolled_up_at and rolled_up_at.timestamp()}"
    history = cache.get(key) if rolled_up_at is not None else None
    if history is None:
        history = _build_history(now)
        if rolled_up_at is not None:
            cache.set(key, history, timeout=settings.DASHBOARD_ROLLUP_INTERVAL_SECONDS * 5)
    return history


def _build_history(now: datetime) -> History:
    current_minute = floor_time(now, Span.MINUTE)
    window = settings.DASHBOARD_ETA_WINDOW_MINUTES
    minutes = _points(Span.MINUTE, min(current_minute - timedelta(minutes=window), now - timedelta(hours=1)))
    day_start = floor_time(now, Span.FIVE_MINUTES) - timedelta(hours=24) + timedelta(minutes=5)
    month_start = floor_time(now, Span.HOUR) - timedelta(days=30) + timedelta(hours=1)
    local_midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    five = _points(Span.FIVE_MINUTES, day_start)
    hours = _points(Span.HOUR, min(month_start, local_midnight))
    completion_today = OrderRollup.objects.filter(span=Span.HOUR, start__gte=local_midnight).values_list("completion_seconds", flat=True)
    day_spans = _spans(day_start, floor_time(now, Span.FIVE_MINUTES), Span.FIVE_MINUTES)
    month_spans = _spans(month_start, floor_time(now, Span.HOUR), Span.HOUR)
    month = [row for row in hours if row.start >= month_start]
    drawn = {
        "intake_day": _intake_chart(five, day_spans, _("Orders per 5 minutes, last 24 hours"), charts.every_three_hours),
        "backlog_day": _backlog_chart(five, day_spans, _("Open orders, last 24 hours"), charts.every_three_hours),
        "intake_month": _intake_chart(month, month_spans, _("Orders per hour, last 30 days"), charts.every_five_days),
        "backlog_month": _backlog_chart(month, month_spans, _("Open orders, last 30 days"), charts.every_five_days),
    }
    return History(
        eta=eta_from_minutes(minutes, window_minutes=window, current=current_minute),
        failed_last_hour=sum(row.failed for row in minutes if row.start > now - timedelta(hours=1)),
        today=_today([row for row in hours if row.start >= local_midnight], list(completion_today)),
        charts_html=render_to_string("control/_charts.html", drawn),
    )


def _today(rows: list[Point], completion_counts: list[list[int]]) -> Today:
    completion = [0] * (len(COMPLETION_BOUNDS_SECONDS) + 1)
    for counts in completion_counts:
        completion = [a + b for a, b in zip(completion, counts or completion)]
    return Today(
        received=sum(row.received for row in rows),
        completed=sum(completion),
        cleared=sum(row.cleared for row in rows),
        failed=sum(row.failed for row in rows),
        straight_through=sum(row.straight_through for row in rows),
        held=sum(row.held for row in rows),
        p50_seconds=completion_percentile(completion, 0.5),
        p95_seconds=completion_percentile(completion, 0.95),
    )


def _by_start(rows: list[Point], starts: list[datetime]) -> list[Point | None]:
    found = {row.start: row for row in rows}
    return [found.get(start) for start in starts]


def _intake_chart(rows, starts, title, ticks) -> charts.Chart:
    spans = _by_start(rows, starts)
    return charts.line_chart(
        title=title,
        unit=_("orders"),
        starts=starts,
        series=[
            ("received", _("Received"), [row.received if row else 0 for row in spans]),
            ("cleared", _("Reached a final state"), [row.cleared if row else 0 for row in spans]),
        ],
        tick_every=ticks,
        filled=("received",),
    )


def _backlog_chart(rows, starts, title, ticks) -> charts.Chart:
    spans = _by_start(rows, starts)
    return charts.line_chart(
        title=title,
        unit=_("orders"),
        starts=starts,
        series=[
            ("open", _("Open (not in a final state)"), [row.open_at_end if row else None for row in spans]),
            ("person", _("Waiting for a person (the backlog)"), [row.needs_person_at_end if row else None for row in spans]),
        ],
        tick_every=ticks,
    )
