"""Seat charts: a subscription's seats over time, from its ledger, as numbers an SVG template draws.

Server-side, so the page needs no script and nothing from a CDN. This module
only computes coordinates and labels; the markup is the template's
(licensing/templates/licensing/_seat_chart.html), which escapes every label.
Seats change in steps (an order line adds them at one moment), so the line is
a step line: flat until the next ledger entry, then straight up or down.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from licensing.calendars import aware
from licensing.models import JAPAN

WIDTH = 640
HEIGHT = 220
# Room for the axis labels: left for seats, bottom for dates.
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 14, 30


@dataclass(frozen=True)
class ChartPoint:
    x: float
    y: float
    at: datetime
    change: int
    seats: int
    reason: str
    reference: str


@dataclass(frozen=True)
class Tick:
    position: float  # x for dates, y for seats
    label: str


@dataclass(frozen=True)
class SeatChart:
    width: int
    height: int
    line: str  # the step line's SVG path
    area: str  # the same, closed along the axis, for the fill
    points: tuple[ChartPoint, ...]
    seat_ticks: tuple[Tick, ...]
    date_ticks: tuple[Tick, ...]
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    today_x: float  # where "now" is: the line ends there
    term_end_x: float | None  # where the term's last day ends (the chart always reaches it)


def seat_chart(entries: Sequence, *, now: datetime, term_end: date | None = None) -> SeatChart | None:
    """The chart of ledger `entries` (oldest first, each with created_at, quantity, seats_after, reason); None without any."""
    if not entries:
        return None
    now = aware(now)
    start = aware(entries[0].created_at)
    line_end = max(now, aware(entries[-1].created_at))  # the seats are known up to now, not beyond
    term_end_at = datetime.combine(term_end + timedelta(days=1), datetime.min.time(), tzinfo=JAPAN) if term_end else None
    end = max(line_end, term_end_at) if term_end_at is not None else line_end
    span = max((end - start).total_seconds(), 86400.0)
    start, end = start - timedelta(seconds=span * 0.02), end + timedelta(seconds=span * 0.03)
    most = max(max(entry.seats_after for entry in entries), 1)
    top_seats = math.ceil(most / _seat_step(most)) * _seat_step(most)  # a round top for the seat axis

    def x_of(at: datetime) -> float:
        return round(LEFT + (aware(at) - start).total_seconds() / (end - start).total_seconds() * (WIDTH - LEFT - RIGHT), 1)

    def y_of(seats: int) -> float:
        return round(HEIGHT - BOTTOM - max(seats, 0) / top_seats * (HEIGHT - TOP - BOTTOM), 1)

    points = tuple(
        ChartPoint(x=x_of(entry.created_at), y=y_of(entry.seats_after), at=entry.created_at, change=entry.quantity,
                   seats=entry.seats_after, reason=entry.reason, reference=entry.reference)
        for entry in entries
    )
    line = _step_path(points, y_zero=y_of(0), x_end=x_of(line_end))
    area = f"{line} V {y_of(0)} H {points[0].x} Z"
    return SeatChart(
        width=WIDTH,
        height=HEIGHT,
        line=line,
        area=area,
        points=points,
        seat_ticks=tuple(Tick(y_of(seats), f"{seats:,}") for seats in _seat_steps(top_seats)),
        date_ticks=tuple(Tick(x_of(at), label) for at, label in _date_steps(start, end)),
        plot_left=LEFT,
        plot_right=WIDTH - RIGHT,
        plot_top=TOP,
        plot_bottom=HEIGHT - BOTTOM,
        today_x=x_of(now),
        term_end_x=x_of(term_end_at) if term_end_at is not None else None,
    )


def _step_path(points: Sequence[ChartPoint], *, y_zero: float, x_end: float) -> str:
    """From zero seats up to the first entry, then flat to each next entry and up or down to its level."""
    parts = [f"M {points[0].x} {y_zero}", f"V {points[0].y}"]
    for point in points[1:]:
        parts += [f"H {point.x}", f"V {point.y}"]
    parts.append(f"H {x_end}")
    return " ".join(parts)


def _seat_step(most: int) -> int:
    """A round step (1, 2 or 5 × 10^n seats) that covers `most` seats in at most five steps."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if most <= factor * magnitude * 5:
                return factor * magnitude
        magnitude *= 10


def _seat_steps(top: int) -> list[int]:
    step = _seat_step(top)
    return list(range(0, top + 1, step))


def _date_steps(start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    """Month starts inside the range (every second or third month over long ranges), labelled in Japan time."""
    local_start, local_end = start.astimezone(JAPAN), end.astimezone(JAPAN)
    months = (local_end.year - local_start.year) * 12 + local_end.month - local_start.month
    if months < 2:
        return _day_steps(local_start, local_end)
    every = 1 if months <= 8 else 2 if months <= 16 else 3 if months <= 30 else 6
    steps = []
    year, month = local_start.year, local_start.month
    while True:
        month += 1
        if month > 12:
            year, month = year + 1, 1
        at = datetime(year, month, 1, tzinfo=JAPAN)
        if at >= local_end:
            return steps
        if (month - 1) % every == 0:
            steps.append((at, f"{year}-{month:02d}" if month == 1 or not steps else f"{month:02d}"))


def _day_steps(start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    days = max((end.date() - start.date()).days, 1)
    every = max(days // 6, 1)
    first = datetime.combine(start.date() + timedelta(days=1), datetime.min.time(), tzinfo=JAPAN)
    return [
        (first + timedelta(days=offset), f"{(first + timedelta(days=offset)):%m-%d}")
        for offset in range(0, days, every)
        if first + timedelta(days=offset) < end
    ]
