"""Formatting for the backlog pages: yen, dates and ages the Japanese way, reason codes in words."""

from datetime import datetime
from urllib.parse import quote

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import Truncator
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
def event_reason(reason: str) -> str:
    """An event's reason for people: review codes ("QUANTITY_OVER_CAP, MANUAL_APPROVAL",
    possibly after "rules checked: ") in words; other text as the pipeline wrote it."""
    prefix, _sep, rest = reason.rpartition(": ")
    codes = [code.strip() for code in rest.split(",")]
    if codes and all(code in _REASON_LABELS for code in codes):
        separator = "、" if translation.get_language() == "ja" else ", "
        labels = separator.join(reason_label(code) for code in codes)
        return f"{prefix}: {labels}" if prefix else labels
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
def backlog_row(context, order) -> str:
    """One <tr> of the backlog list.

    Built here with format_html rather than in the template: the list has up
    to BACKLOG_PAGE_SIZE rows, and template variable lookups per cell made the
    rows cost more than all the SQL of the page together.
    """
    user = context["user"]
    locked = not order.may_handle
    checkbox = format_html(
        '<input type="checkbox" name="orders" value="{}" form="bulk-form" aria-label="{}"{}>',
        order.pk,
        order.number,
        format_html(' disabled title="{}"', _("Only the order desk or a manager may handle this order.")) if locked else "",
    )
    return format_html(
        '<tr data-order-id="{pk}" data-url="{url}" class="{band}{locked}">'
        '<td class="check">{checkbox}</td>'
        '<td class="nowrap"><a href="{url}">{number}</a> {state}</td>'
        '<td><a class="quiet" href="?customer={code_q}" title="{only}">{customer}</a><div class="sub">{code}</div></td>'
        '<td class="nowrap">{po}</td>'
        '<td class="lines-summary">{lines}</td>'
        '<td class="num">{total}</td>'
        "<td>{reasons}</td>"
        '<td class="num"><span class="badge {band}" title="{when}">{age}</span></td>'
        '<td class="nowrap">{claim}</td>'
        "</tr>",
        pk=order.pk,
        url=order.detail_url,
        band=order.band,
        locked=" locked" if locked else "",
        checkbox=checkbox,
        number=order.number,
        state=_state_badge(order),
        code_q=quote(order.customer.code),
        only=_("Only this customer"),
        customer=order.customer.name,
        code=order.customer.code,
        po=order.po_number,
        lines=format_html_join(", ", '<span class="nowrap">{} × {}</span>', ((l.sku, l.quantity) for l in order.lines.all())),
        total=yen(order.total),
        reasons=_reason_badges(order),
        when=when(order.created_at),
        age=age(order.created_at),
        claim=_claimer(order, user),
    )


def _state_badge(order) -> str:
    if order.status == Order.Status.NEEDS_REVIEW:
        return ""
    if order.status == Order.Status.FAILED:
        return format_html('<span class="badge bad">{}</span>', status_label(order.status))
    return format_html('<span class="badge warn">{}: {}</span>', _("Stuck"), status_label(order.status))


def _reason_badges(order) -> str:
    if order.review_reasons:
        return format_html_join(" ", '<span class="badge reason">{}</span>', ((reason_label(code),) for code in order.review_reasons))
    if order.status == Order.Status.FAILED:
        return format_html('<span class="sub">{}</span>', Truncator(order.status_reason).chars(60))
    return ""


def _claimer(order, user) -> str:
    if not order.claim_active:
        return mark_safe('<span class="sub">—</span>')
    if order.claimed_by_id == user.pk:
        return format_html("<strong>{}</strong>", _("me"))
    return order.claimed_by.get_username()
