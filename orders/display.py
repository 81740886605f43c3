"""Order data as text for people: yen, dates, ages, and codes in words, in the reader's language.

Plain strings only. Templates put them on the page and autoescape them; the
backlog's rows and the template filters in orders.templatetags.backlog_tags
both come through here, so every page writes a date, an age or a reason the
same way. Dates follow the one format per language in orderdesk/formats/.
"""

from datetime import date, datetime

from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from orders.models import Order, ReviewReason

REASON_LABELS = dict(ReviewReason.choices)
STATUS_LABELS = dict(Order.Status.choices)
# What the system writes as an event's (or a status's) reason, in the reader's
# language. The timeline keeps the text as written (it is the audit trail, and
# the API shows it); only the pages translate it.
SYSTEM_REASONS = {
    "order received": gettext_lazy("order received"),
    "rules checked": gettext_lazy("rules checked"),
    "nothing to review": gettext_lazy("nothing to review"),
    "approved straight through": gettext_lazy("approved straight through"),
    "approved": gettext_lazy("approved"),
    "provisioning seats": gettext_lazy("provisioning seats"),
    "seats provisioned": gettext_lazy("seats provisioned"),
    "quote PDF stored": gettext_lazy("quote PDF stored"),
    "retried": gettext_lazy("retried"),
    "re-enqueued": gettext_lazy("re-enqueued"),
    "lines edited": gettext_lazy("lines edited"),
    "cancelled": gettext_lazy("cancelled"),
    "cancelled by customer": gettext_lazy("cancelled by customer"),
    "cancelled by staff": gettext_lazy("cancelled by staff"),
    "moved on": gettext_lazy("moved on"),
}


def yen(amount) -> str:
    """¥1,234,567 — integer yen, no decimals (JPY has no minor unit)."""
    if amount is None or amount == "":
        return ""
    return f"¥{int(amount):,}"


def when(value: datetime | None) -> str:
    """A moment in Japan time: 2026年11月29日 14:05, or 29 Nov 2026 14:05 (DATETIME_FORMAT)."""
    if value is None:
        return ""
    return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")


def with_time(day_text: str, local: datetime) -> str:
    """`when` from a day already written with `day`: both languages' DATETIME_FORMAT is their DATE_FORMAT and " H:i"
    (orderdesk/formats/), so a page that shows many moments formats each day once."""
    return f"{day_text} {local:%H:%M}"


def day(value: date | None) -> str:
    """A day: 2026年11月29日, or 29 Nov 2026."""
    if value is None:
        return ""
    return formats.date_format(value, "DATE_FORMAT")


def age(value: datetime, now: datetime) -> str:
    """How long ago: 15分, 3時間, 2日5時間 (15 min, 3 h, 2 d 5 h)."""
    minutes = max(0, int((now - value).total_seconds() // 60))
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


def reason_label(code: str) -> str:
    return str(REASON_LABELS.get(code, code))


def status_label(code: str) -> str:
    return str(STATUS_LABELS.get(code, code))


def list_separator() -> str:
    return "、" if translation.get_language() == "ja" else ", "


def event_reason(reason: str) -> str:
    """An event's reason for people: what the system writes in the reader's language, review codes
    ("QUANTITY_OVER_CAP, MANUAL_APPROVAL", possibly after "rules checked: ") in words; other text as written."""
    if reason in SYSTEM_REASONS:
        return str(SYSTEM_REASONS[reason])
    prefix, _sep, rest = reason.rpartition(": ")
    shown_prefix = str(SYSTEM_REASONS.get(prefix, prefix))
    if prefix and rest in SYSTEM_REASONS:
        return f"{shown_prefix}: {SYSTEM_REASONS[rest]}"
    codes = [code.strip() for code in rest.split(",")]
    if codes and all(code in REASON_LABELS for code in codes):
        labels = list_separator().join(reason_label(code) for code in codes)
        return f"{shown_prefix}: {labels}" if prefix else labels
    return reason
