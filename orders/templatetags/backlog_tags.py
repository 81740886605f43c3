"""Filters for the backlog pages: yen, dates and ages the Japanese way, codes in words.

Each returns plain text (orders.display); the templates autoescape it. No
markup is built here: the rows, count links and selects are templates.
"""

from datetime import datetime

from django import template
from django.utils import timezone

from orders import display
from orders.backlog import age_band

register = template.Library()


@register.filter
def yen(amount) -> str:
    """¥1,234,567 — integer yen, no decimals (JPY has no minor unit)."""
    return display.yen(amount)


@register.filter
def when(value: datetime | None) -> str:
    """2026年11月29日 14:05 in Japanese, 29 Nov 2026 14:05 in English; in Tokyo time."""
    return display.when(value)


@register.filter
def day(value) -> str:
    """2026年11月29日 in Japanese, 29 Nov 2026 in English."""
    return display.day(value)


@register.filter
def age(value: datetime | None) -> str:
    """How long ago: 15分, 3時間, 2日5時間 (15 min, 3 h, 2 d 5 h)."""
    if value is None:
        return ""
    return display.age(value, timezone.now())


@register.filter
def band(value: datetime) -> str:
    """fresh / ageing / overdue, by the SLA thresholds in settings."""
    return age_band(value)


@register.filter
def reason_label(code: str) -> str:
    return display.reason_label(code)


@register.filter
def event_reason(reason: str) -> str:
    return display.event_reason(reason)


@register.filter
def status_label(code: str) -> str:
    return display.status_label(code)
