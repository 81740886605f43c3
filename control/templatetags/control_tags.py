"""Formatting for the control room: durations, rates, shares, clock times (Japanese or English)."""

from datetime import datetime

from django import template
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from orders.models import Order

register = template.Library()
_SOURCE_LABELS = dict(Order.Source.choices)


@register.filter
def duration(seconds) -> str:
    """45 s, 3 min, 2 h 5 min, 3 d 4 h (45秒, 3分, 2時間5分, 3日4時間). Empty for None."""
    if seconds is None or seconds == "":
        return ""
    seconds = max(0, int(round(float(seconds))))
    if seconds < 60:
        return _("%(s)d s") % {"s": seconds}
    minutes = seconds // 60
    if minutes < 60:
        return _("%(m)d min") % {"m": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return _("%(h)d h %(m)d min") % {"h": hours, "m": minutes} if minutes else _("%(h)d h") % {"h": hours}
    days, hours = divmod(hours, 24)
    return _("%(d)d d %(h)d h") % {"d": days, "h": hours} if hours else _("%(d)d d") % {"d": days}


@register.filter
def share(value) -> str:
    """94.2 % — or a dash when there is nothing to divide."""
    if value is None:
        return "–"
    return f"{value:.1f} %"


@register.filter
def per_minute(value) -> str:
    """12.3/min (12.3件/分)."""
    return _("%(rate)s/min") % {"rate": f"{value:,.1f}"}


@register.filter
def clock(value: datetime | None) -> str:
    """14:35 today; 12/3 14:35 (12月3日 14:35) on another day; Japan time."""
    if value is None:
        return ""
    local, today = timezone.localtime(value), timezone.localdate()
    if local.date() == today:
        return f"{local:%H:%M}"
    if translation.get_language() == "ja":
        return f"{local.month}月{local.day}日 {local:%H:%M}"
    return f"{local.day} {local:%b} {local:%H:%M}"


@register.filter
def number(value) -> str:
    """1,234 — or a dash for None."""
    if value is None or value == "":
        return "–"
    return f"{int(value):,}"


@register.simple_tag
def query(filtering: dict, **extra) -> str:
    """The feed's query string: the filters in force, with `extra` added (None drops a key)."""
    from django.http import QueryDict

    params = QueryDict(mutable=True)
    for key, value in {**filtering, **extra}.items():
        if value not in (None, ""):
            params[key] = value
    return params.urlencode()


@register.filter
def source_label(code: str) -> str:
    return str(_SOURCE_LABELS.get(code, code))
