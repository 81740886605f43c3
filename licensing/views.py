"""Staff pages of customers: who they are, their subscriptions with a seat chart each, their work-hours policy and record."""

from datetime import timedelta

from django.conf import settings
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from licensing.charts import seat_chart
from licensing.models import ClosedPeriod, Customer, IsoWeekday, WorkHoursPolicy
from licensing.selectors import customer_ledgers, customer_search, customer_subscriptions, outside_hours_counts
from orderdesk.roles import ALL_ROLES, role_required

# Staff see outside-hours validations counted over this many recent days (as in the admin's list).
RECENT_DAYS = 30

any_staff = role_required(*ALL_ROLES)


@any_staff
@require_GET
def customer_list(request):
    query = request.GET.get("q", "")
    page = Paginator(customer_search(query=query), 50).get_page(request.GET.get("page"))
    since = timezone.now() - timedelta(days=RECENT_DAYS)
    counts = outside_hours_counts(customer_ids=[customer.pk for customer in page], since=since)
    rows = [(customer, counts.get(customer.pk, 0)) for customer in page]
    return render(request, "licensing/customer_list.html", {"page": page, "rows": rows, "q": query, "recent_days": RECENT_DAYS})


@any_staff
@require_GET
def customer_detail(request, code):
    customer = get_object_or_404(Customer, code=code)
    now = timezone.now()
    ledgers = customer_ledgers(customer=customer)
    subscriptions = [
        (subscription, seat_chart(ledgers.get(subscription.pk, []), now=now, term_end=subscription.term_end))
        for subscription in customer_subscriptions(customer=customer)
    ]
    policy = WorkHoursPolicy.objects.filter(customer=customer).first()
    since = now - timedelta(days=RECENT_DAYS)
    context = {
        "customer": customer,
        "subscriptions": subscriptions,
        "policy": policy,
        "working_days": [IsoWeekday(day).label for day in policy.working_days] if policy else [],
        "closed_periods": ClosedPeriod.objects.filter(customer=customer).order_by("first_day"),
        "outside_hours_recent": outside_hours_counts(customer_ids=[customer.pk], since=since).get(customer.pk, 0),
        "recent_days": RECENT_DAYS,
        "retention_days": settings.WORK_HOURS_RECORD_RETENTION_DAYS,
    }
    return render(request, "licensing/customer_detail.html", context)
