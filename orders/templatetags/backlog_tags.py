"""Formatting for the backlog pages: yen, dates and ages the Japanese way, reason codes in words."""

from datetime import datetime

from django import template
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from orders.backlog import age_band
from orders.models import Order, ReviewReason

register = template.Library()

_REASON_LABELS = dict(ReviewReason.choices)
_STATUS_LABELS = dict(Order.Status.choices)


@register.filter
def yen(amount) -> str:
    """¥1,234,567 — integer yen, no decimals (JPY has no minor unit)."""
    if amount is None or amount == "":
        return ""
    return f"¥{int(amount):,}"


@register.filter
def when(value: datetime | None) -> str:
    """2026年11月29日 14:05 in Japanese, 29 Nov 2026 14:05 in English; in Tokyo time."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    if translation.get_language() == "ja":
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
    return f"{local.day} {local:%b %Y %H:%M}"


@register.filter
def age(value: datetime | None) -> str:
    """How long ago: 15分, 3時間, 2日5時間 (15 min, 3 h, 2 d 5 h)."""
    if value is None:
        return ""
    minutes = max(0, int((timezone.now() - value).total_seconds() // 60))
    if minutes < 60:
        return ngettext("%(n)d min", "%(n)d min", minutes) % {"n": minutes}
    hours = minutes // 60
    if hours < 24:
        return ngettext("%(n)d h", "%(n)d h", hours) % {"n": hours}
    days, hours = divmod(hours, 24)
    day_text = ngettext("%(n)d d", "%(n)d d", days) % {"n": days}
    if not hours:
        return day_text
    return _("%(days)s %(hours)s") % {"days": day_text, "hours": ngettext("%(n)d h", "%(n)d h", hours) % {"n": hours}}


@register.filter
def band(value: datetime) -> str:
    """fresh / ageing / overdue, by the SLA thresholds in settings."""
    return age_band(value)


@register.filter
def reason_label(code: str) -> str:
    return str(_REASON_LABELS.get(code, code))


@register.filter
def status_label(code: str) -> str:
    return str(_STATUS_LABELS.get(code, code))


@register.filter
def day(value) -> str:
    """2026年11月29日 in Japanese, 29 Nov 2026 in English."""
    if value is None:
        return ""
    if translation.get_language() == "ja":
        return f"{value.year}年{value.month}月{value.day}日"
    return f"{value.day} {value:%b %Y}"
