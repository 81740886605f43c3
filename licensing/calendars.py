"""Work-hours calendars (労務管理): is a moment inside a customer's working hours?

A shift starts at the policy's start time on a working day and ends at its end
time, on the same day or — when the end is earlier than the start (22:00–06:00)
— on the next day. A shift belongs to the day it starts, so 03:00 on a Saturday
is inside a Friday night shift, and nothing is inside hours on the morning
after a holiday's night. A working day is a day of the week the policy names
that is neither a public holiday of its country (the `holidays` package, kept
up to date by its maintainers: 振替休日 and the moving equinox days included)
nor inside one of the customer's closed periods (年末年始, お盆).

Everything is judged in the policy's time zone, so a customer in New York gets
New York's days and hours.
"""

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import holidays
from django.utils import timezone

from licensing.models import JAPAN


@dataclass(frozen=True)
class Period:
    """A closed period's days (first and last inclusive); with every_year only the month and day count."""

    first_day: date
    last_day: date
    every_year: bool

    def contains(self, day: date) -> bool:
        if not self.every_year:
            return self.first_day <= day <= self.last_day
        first, last, today = _month_day(self.first_day), _month_day(self.last_day), _month_day(day)
        if first <= last:
            return first <= today <= last
        return today >= first or today <= last  # wraps the year end: 12-29 to 01-03


def _month_day(day: date) -> tuple[int, int]:
    return day.month, day.day


@dataclass(frozen=True)
class WorkCalendar:
    """What a policy's decision needs, read once: zone, days, shift, holiday country."""

    zone: object  # a ZoneInfo
    working_days: frozenset[int]
    start: time
    end: time
    holiday_country: str  # "" for none

    @property
    def crosses_midnight(self) -> bool:
        return self.end < self.start


def calendar_of(policy) -> WorkCalendar:
    return WorkCalendar(
        zone=policy.zone,
        working_days=frozenset(policy.working_days),
        start=policy.start_time,
        end=policy.end_time,
        holiday_country=policy.public_holidays,
    )


def is_inside_hours(calendar: WorkCalendar, at: datetime, closed_periods: Callable[[], Iterable[Period]]) -> bool:
    """Is `at` inside a shift? `closed_periods` is called only when the answer depends on them (it may query)."""
    local = aware(at).astimezone(calendar.zone)
    shift_day = _shift_day(calendar, local.date(), local.time())
    if shift_day is None or not _is_working_weekday(calendar, shift_day):
        return False
    return not any(period.contains(shift_day) for period in closed_periods())


def _shift_day(calendar: WorkCalendar, day: date, clock: time) -> date | None:
    """The day whose shift covers this local date and time, if any shift could."""
    if not calendar.crosses_midnight:
        return day if calendar.start <= clock < calendar.end else None
    if clock >= calendar.start:
        return day  # the evening part of today's shift
    if clock < calendar.end:
        return day - timedelta(days=1)  # the morning part of yesterday's shift
    return None


def _is_working_weekday(calendar: WorkCalendar, day: date) -> bool:
    return day.isoweekday() in calendar.working_days and not is_public_holiday(calendar.holiday_country, day)


def is_public_holiday(country: str, day: date) -> bool:
    return bool(country) and day in public_holidays(country, day.year)


def public_holiday_name(country: str, day: date) -> str | None:
    return public_holidays(country, day.year).get(day) if country else None


@functools.lru_cache(maxsize=64)
def public_holidays(country: str, year: int) -> dict[date, str]:
    """date → name of the country's public holidays in that year (Japanese names for Japan).

    Built once per process and year: the package computes them (equinoxes,
    substitute holidays), which costs far more than a lookup.
    """
    language = "ja" if country == "JP" else None
    return dict(holidays.country_holidays(country, years=year, language=language))


def aware(at: datetime) -> datetime:
    # A time without an offset is read as Japan time, like everything else in Orderdesk.
    return at if timezone.is_aware(at) else timezone.make_aware(at, JAPAN)


def holiday_country_choices() -> list[tuple[str, str]]:
    """("JP", "JP — Japan") for every country the holidays package knows, Japan first; "" for none."""
    names = {entry[1]: entry[0] for entry in holidays.registry.COUNTRIES.values()}
    codes = sorted(code for code in holidays.list_supported_countries() if len(code) == 2)
    choices = [(code, f"{code} — {names.get(code, code)}") for code in codes]
    japan = [choice for choice in choices if choice[0] == "JP"]
    return [("", "—"), *japan, *(choice for choice in choices if choice[0] != "JP")]
