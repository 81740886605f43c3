"""The control room's pages. Thin: read through control.dashboard, control.feed and control.digest."""

from datetime import date

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from control import dashboard as dashboard_data
from control.digest import day_digest, digest_send, yesterday
from control.feed import FeedFilter, feed_page, for_display, orders_since
from control.metrics import OrderdeskCollector
from orderdesk import metrics as process_metrics
from orderdesk.roles import CONTROL_ROOM_ROLES, MANAGER, role_required
from orderdesk.signin import client_address
from orders.models import Order

control_room = role_required(*CONTROL_ROOM_ROLES)


@control_room
@require_GET
def dashboard(request):
    context = {"board": dashboard_data.dashboard(user=request.user), "refresh_seconds": settings.DASHBOARD_REFRESH_SECONDS}
    if request.htmx and request.htmx.target == "dashboard-live":
        return render(request, "control/_dashboard_live.html", context)
    return render(request, "control/dashboard.html", context)


@role_required(MANAGER)
@require_GET
def digest_preview(request):
    """The digest of a day as the managers get it by e-mail (yesterday unless ?day=YYYY-MM-DD)."""
    day, error = yesterday(), ""
    if request.GET.get("day"):
        try:
            day = date.fromisoformat(request.GET["day"])
        except ValueError:
            error = _("“%(value)s” is not a date: use YYYY-MM-DD.") % {"value": request.GET["day"]}
        else:
            if day > timezone.localdate():
                error, day = _("That day has not happened yet."), yesterday()
    context = {"digest": day_digest(day=day), "error": error, "has_email": bool(request.user.email)}
    return render(request, "control/digest.html", context, status=400 if error else 200)


@role_required(MANAGER)
@require_POST
def digest_send_to_me(request):
    try:
        day = date.fromisoformat(request.POST.get("day", ""))
    except ValueError:
        messages.error(request, _("Which day? The form sent no valid date."))
        return redirect("control:digest")
    if not request.user.email:
        messages.error(request, _("Your account has no e-mail address; ask an administrator to add one."))
    else:
        language = "en" if request.LANGUAGE_CODE == "en" else "ja"
        digest_send(day=day, users=[(request.user, language)], again=True)
        messages.success(request, _("The digest was sent to %(email)s.") % {"email": request.user.email})
    return redirect(f"{reverse('control:digest')}?day={day.isoformat()}")


@control_room
@require_GET
def feed(request):
    filterset = FeedFilter(request.GET, queryset=Order.objects.all())
    valid = filterset.is_valid()
    orders = filterset.qs if valid else Order.objects.none()
    data = filterset.form.cleaned_data if valid else {}
    live = request.GET.get("live") == "1"
    if live and request.htmx and data.get("after"):
        rows, more = orders_since(orders, after=data["after"], size=settings.FEED_PAGE_SIZE)
        for_display(rows)
        if not rows:
            return HttpResponse(status=204)  # nothing new: the page stays as it is
        context = {"rows": rows, "more": more, "filtering": filterset.filtering(), "live_seconds": settings.FEED_LIVE_SECONDS}
        return render(request, "control/_feed_arrivals.html", context)
    page = feed_page(orders, before=data.get("before"), after=data.get("after"), size=settings.FEED_PAGE_SIZE)
    for_display(page.rows)
    context = {
        "filter": filterset,
        "page": page,
        "live": live and page.is_newest,
        "live_seconds": settings.FEED_LIVE_SECONDS,
        "filtering": filterset.filtering(),
        "newest_cursor": page.rows[0].cursor if page.rows else "0.0",
        "max_rows": settings.FEED_PAGE_SIZE * 10,
    }
    return render(request, "control/feed.html", context, status=200 if valid else 400)


@never_cache
@require_GET
def metrics(request):
    """Prometheus text format; who may read it is settled by METRICS_TOKEN and METRICS_ALLOWED_ADDRESSES."""
    refusal = process_metrics.scrape_refusal(
        remote_addr=client_address(request), authorization=request.META.get("HTTP_AUTHORIZATION", "")
    )
    if refusal is not None:
        status, message = refusal
        response = HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")
        if status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    from prometheus_client import CONTENT_TYPE_LATEST

    return HttpResponse(process_metrics.exposition(OrderdeskCollector()), content_type=CONTENT_TYPE_LATEST)
