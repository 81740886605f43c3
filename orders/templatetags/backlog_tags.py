"""Formatting for the backlog pages: yen, dates and ages the Japanese way, reason codes in words."""

import html
from datetime import datetime
from urllib.parse import quote

from django import template
from django.utils.safestring import mark_safe
from django.utils.text import Truncator
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.utils.translation import ngettext

from orders.backlog import AgeBand, age_band
from orders.models import Order, ReviewReason

register = template.Library()


def escape(text) -> str:
    """Django's `escape` (the same five characters) without its lazy-string wrapper: called thousands of times per page."""
    return html.escape(str(text))


_REASON_LABELS = dict(ReviewReason.choices)
# What the system writes as an event's reason, in the reader's language. The
# timeline keeps the text as written (it is the audit trail, and the API shows
# it); only the page translates it.
_SYSTEM_REASONS = {
    "order received": gettext_lazy("order received"),
    "rules checked": gettext_lazy("rules checked"),
    "nothing to review": gettext_lazy("nothing to review"),
    "approved straight through": gettext_lazy("approved straight through"),
    "provisioning seats": gettext_lazy("provisioning seats"),
    "seats provisioned": gettext_lazy("seats provisioned"),
    "quote PDF stored": gettext_lazy("quote PDF stored"),
    "retried": gettext_lazy("retried"),
    "re-enqueued": gettext_lazy("re-enqueued"),
    "lines edited": gettext_lazy("lines edited"),
    "cancelled by customer": gettext_lazy("cancelled by customer"),
}
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
    return _when_text(value, timezone.get_current_timezone(), translation.get_language() == "ja")


def _when_text(value: datetime, tz, japanese: bool) -> str:
    local = value.astimezone(tz)
    if japanese:
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
    return f"{local.day} {local:%b %Y %H:%M}"


@register.filter
def age(value: datetime | None) -> str:
    """How long ago: 15分, 3時間, 2日5時間 (15 min, 3 h, 2 d 5 h)."""
    if value is None:
        return ""
    return _age_text(value, timezone.now())


def _age_text(value: datetime, now: datetime) -> str:
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


@register.filter
def band(value: datetime) -> str:
    """fresh / ageing / overdue, by the SLA thresholds in settings."""
    return age_band(value)


@register.filter
def reason_label(code: str) -> str:
    return str(_REASON_LABELS.get(code, code))


@register.filter
def event_reason(reason: str) -> str:
    """An event's reason for people: what the system writes in the reader's language, review codes
    ("QUANTITY_OVER_CAP, MANUAL_APPROVAL", possibly after "rules checked: ") in words; other text as written."""
    if reason in _SYSTEM_REASONS:
        return str(_SYSTEM_REASONS[reason])
    prefix, _sep, rest = reason.rpartition(": ")
    shown_prefix = str(_SYSTEM_REASONS.get(prefix, prefix))
    if prefix and rest in _SYSTEM_REASONS:
        return f"{shown_prefix}: {_SYSTEM_REASONS[rest]}"
    codes = [code.strip() for code in rest.split(",")]
    if codes and all(code in _REASON_LABELS for code in codes):
        separator = "、" if translation.get_language() == "ja" else ", "
        labels = separator.join(reason_label(code) for code in codes)
        return f"{shown_prefix}: {labels}" if prefix else labels
    return reason


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


@register.simple_tag(takes_context=True)
def backlog_rows(context, orders) -> str:
    """The <tr>s of the backlog list (`orders.backlog.BacklogRow`s), built in one pass.

    Built here with plain string formatting rather than in the template or with
    format_html per cell: the list has up to BACKLOG_PAGE_SIZE rows, and
    template lookups, then per-cell format_html, made the rows cost more than
    all the SQL of the page together. Every value from the database goes
    through `escape`; the texts that are the same on every row are translated once.
    """
    texts = _RowTexts(user=context["user"])
    return mark_safe("".join(_row(order, texts) for order in orders))


class _RowTexts:
    """What every row of one page shares: the viewer, translated labels, the time."""

    def __init__(self, *, user):
        self.user = user
        self.now = timezone.now()
        self.locked_title = escape(_("Only the order desk or a manager may handle this order."))
        self.only_customer = escape(_("Only this customer"))
        self.me = "<strong>{}</strong>".format(escape(_("me")))  # not in an f-string: makemessages would miss it
        self.stuck = escape(_("Stuck"))
        self.reasons = {code: f'<span class="badge reason">{escape(label)}</span>' for code, label in _REASON_LABELS.items()}
        self.tz = timezone.get_current_timezone()
        self.japanese = translation.get_language() == "ja"
        self._ages: dict[int, str] = {}

    def when(self, value: datetime) -> str:
        return escape(_when_text(value, self.tz, self.japanese))

    def age(self, value: datetime) -> str:
        """The age badge's text; rows of the same minute share it (translating it is the costly part)."""
        minutes = int((self.now - value).total_seconds() // 60)
        if minutes not in self._ages:
            self._ages[minutes] = escape(_age_text(value, self.now))
        return self._ages[minutes]


def _row(order, texts: _RowTexts) -> str:
    locked = not order.may_handle
    url = escape(order.detail_url)
    number = escape(order.number)
    disabled = f' disabled title="{texts.locked_title}"' if locked else ""
    lines = ", ".join(f'<span class="nowrap">{escape(sku)} × {quantity}</span>' for sku, quantity in order.line_items)
    return (
        f'<tr data-order-id="{order.pk}" data-url="{url}" class="{order.band}{" locked" if locked else ""}">'
        f'<td class="check"><input type="checkbox" name="orders" value="{order.pk}" form="bulk-form" aria-label="{number}"{disabled}></td>'
        f'<td class="nowrap"><a href="{url}">{number}</a> {_state_badge(order, texts)}</td>'
        f'<td><a class="quiet" href="?customer={escape(quote(order.customer_code))}" title="{texts.only_customer}">{escape(order.customer_name)}</a>'
        f'<div class="sub">{escape(order.customer_code)}</div></td>'
        f'<td class="nowrap">{escape(order.po_number)}</td>'
        f'<td class="lines-summary">{lines}</td>'
        f'<td class="num">{yen(order.total)}</td>'
        f"<td>{_reason_badges(order, texts)}</td>"
        f'<td class="num"><span class="badge {order.band}" title="{texts.when(order.created_at)}">{texts.age(order.created_at)}</span></td>'
        f'<td class="nowrap">{_claimer(order, texts)}</td>'
        "</tr>"
    )


def _state_badge(order, texts: _RowTexts) -> str:
    if order.status == Order.Status.NEEDS_REVIEW:
        return ""
    if order.status == Order.Status.FAILED:
        return f'<span class="badge bad">{escape(status_label(order.status))}</span>'
    return f'<span class="badge warn">{texts.stuck}: {escape(status_label(order.status))}</span>'


def _reason_badges(order, texts: _RowTexts) -> str:
    if order.review_reasons:
        return " ".join(texts.reasons.get(code) or f'<span class="badge reason">{escape(code)}</span>' for code in order.review_reasons)
    if order.status == Order.Status.FAILED:
        return f'<span class="sub">{escape(Truncator(order.status_reason).chars(60))}</span>'
    return ""


def _claimer(order, texts: _RowTexts) -> str:
    if not order.claim_active:
        return '<span class="sub">—</span>'
    if order.claimed_by_id == texts.user.pk:
        return texts.me
    return escape(order.claimed_by_username)


@register.simple_tag
def count_links(counts, current_reason) -> str:
    """The two rows of count links at the top of the backlog: totals, states, claims and age bands; one link per reason.

    Built in Python for the same reason as the rows: two dozen links of
    lookups, translations and conditions were a fifth of the template's time
    on every refresh. Numbers are ints; labels are translated and escaped.
    """
    link = '<a class="count{}" href="?{}"><strong>{}</strong> {}</a>'.format
    totals = [
        link(" total", "", counts.total, escape(_("in the backlog"))),
        link("", "state=needs_review", counts.needs_review, escape(_("need review"))),
        link(" bad" if counts.failed else "", "state=failed", counts.failed, escape(_("failed"))),
        link(" warn" if counts.stuck else "", "state=stuck", counts.stuck, escape(_("stuck"))),
        link("", "claim=unclaimed", counts.unclaimed, escape(_("unclaimed"))),
        link("", "claim=mine", counts.mine, escape(_("claimed by me"))),
        '<span class="count-sep"></span>',
        link(" fresh", "age=fresh", counts.by_age[AgeBand.FRESH], escape(_("fresh"))),
        link(" ageing", "age=ageing", counts.by_age[AgeBand.AGEING], escape(_("ageing"))),
        link(" overdue", "age=overdue", counts.by_age[AgeBand.OVERDUE], escape(_("overdue"))),
    ]
    reasons = [
        link(" reason current" if code == current_reason else " reason", f"reason={escape(code)}", n, escape(reason_label(code)))
        for code, n in counts.by_reason.items()
        if n
    ]
    label = escape(_("Counts"))  # not in the f-string: makemessages would miss it
    separator = "\n  "
    return mark_safe(
        f'<div class="counts" aria-label="{label}">{separator}{separator.join(totals)}\n</div>\n'
        f'<div class="counts reasons">{separator}{separator.join(reasons)}\n</div>'
    )


@register.filter
def choice_select(field) -> str:
    """A filter form's choice field as <select>, the same markup as Django's Select widget.

    Django renders each widget through its template engine; for the five
    selects of the backlog filters that was a sizeable part of the page's time.
    """
    value = field.value()
    current = "" if value is None else str(value)
    options = "".join(
        f'<option value="{escape(code)}"{" selected" if str(code) == current else ""}>{escape(label)}</option>'
        for code, label in field.field.choices
    )
    return mark_safe(f'<select name="{field.html_name}" id="{field.auto_id}">{options}</select>')
