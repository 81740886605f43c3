"""The renewals list for sales (/renewals/): terms ending within 90, 30 or 7 days, and drafting their renewal quotes."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from licensing.models import RenewalNotice
from licensing.renewals import RENEWAL_NOTICE_DAYS, renewals_due
from licensing.services import japan_today
from orderdesk.audit import Actor
from orderdesk.roles import MANAGER, SALES, role_required
from quotes.models import Quote
from quotes.services.errors import QuoteInvalid
from quotes.services.renewals import LIVE_STATUSES, renewal_quote_draft

RENEWAL_ROLES = (SALES, MANAGER)
LIST_LIMIT = 500


@role_required(*RENEWAL_ROLES)
@require_GET
def renewal_list(request):
    within = request.GET.get("within", "")
    days = int(within) if within in {str(days) for days in RENEWAL_NOTICE_DAYS} else RENEWAL_NOTICE_DAYS[0]
    today = japan_today()
    subscriptions = list(renewals_due(today=today, within_days=days)[:LIST_LIMIT])
    ids = [subscription.pk for subscription in subscriptions]
    quotes = {}
    for quote in Quote.objects.filter(renews_id__in=ids, status__in=LIVE_STATUSES).order_by("created_at", "id"):
        quotes[(quote.renews_id, quote.renews_term_end)] = quote  # the newest wins
    notices: dict[tuple[int, object], list[int]] = {}
    for notice in RenewalNotice.objects.filter(subscription_id__in=ids).order_by("-days_before"):
        notices.setdefault((notice.subscription_id, notice.term_end), []).append(notice.days_before)
    rows = [
        {
            "subscription": subscription,
            "days_left": (subscription.term_end - today).days,
            "ended_ago": max((today - subscription.term_end).days, 0),
            "quote": quotes.get((subscription.pk, subscription.term_end)),
            "notices": notices.get((subscription.pk, subscription.term_end), []),
        }
        for subscription in subscriptions
    ]
    return render(
        request,
        "quotes/renewals.html",
        {"rows": rows, "within": days, "choices": RENEWAL_NOTICE_DAYS, "limit": LIST_LIMIT, "today": today},
    )


@role_required(*RENEWAL_ROLES)
@require_POST
def renewal_quote_new(request, subscription_id: int):
    try:
        draft = renewal_quote_draft(subscription_id=subscription_id, actor=Actor.staff(request.user))
    except QuoteInvalid as invalid:
        messages.error(request, " ".join(str(message) for errors in invalid.errors.values() for message in errors))
        return redirect("renewals:list")
    if draft.created:
        messages.success(request, _("Renewal quote %(number)s drafted.") % {"number": draft.quote.number})
    else:
        messages.info(request, _("This term already has renewal quote %(number)s.") % {"number": draft.quote.number})
    return redirect("quotes:detail", number=draft.quote.number)
