"""The managers' daily digest: yesterday in numbers, by e-mail at 08:30 Japan time.

`day_digest` gathers one Japan-time day: orders received and their amounts,
seats by product, orders by customer (from that day's orders: a few grouped
queries), the straight-through share, completion times, failures and the
open orders at the end of the day (from the rollups, as the dashboard shows
them). `digest_send` mails it to every manager, in the language each chose
(Japanese unless they picked English), once per day and person.
"""

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Count, Sum
from django.template.loader import render_to_string
from django.utils import timezone, translation

from control.dashboard import completion_percentile
from control.models import DigestDelivery, OrderRollup
from control.rollups import COMPLETION_BOUNDS_SECONDS
from licensing.models import Product
from orderdesk.models import UserPreference
from orderdesk.roles import MANAGER
from orders.models import Order, OrderLine

logger = logging.getLogger(__name__)

# Orders that will never be delivered: left out of the amounts, seats and tables.
NOT_DELIVERED = (Order.Status.REJECTED, Order.Status.CANCELLED)
TOP_CUSTOMERS = 20


@dataclass(frozen=True)
class ProductLine:
    sku: str
    name_ja: str
    name_en: str
    orders: int
    seats: int
    amount: int  # yen before tax, the lines' amounts


@dataclass(frozen=True)
class CustomerLine:
    code: str
    name: str
    orders: int
    seats: int
    total: int  # yen including tax, the orders' totals


@dataclass(frozen=True)
class Digest:
    day: date
    received: int
    received_by_source: dict[str, int]
    orders: int  # received and not rejected or cancelled
    total: int  # their amounts including tax
    seats: int
    completed: int
    completed_total: int
    rejected: int
    cancelled: int
    straight_through: int
    held: int
    p50_seconds: float | None
    p95_seconds: float | None
    failed_during_day: int
    failed_now: int
    open_at_end: int | None  # None: no rollup of the day's last hour
    backlog_at_end: int | None
    products: list[ProductLine] = field(default_factory=list)
    customers: list[CustomerLine] = field(default_factory=list)
    other_customers: CustomerLine | None = None

    @property
    def straight_through_percent(self) -> float | None:
        checked = self.straight_through + self.held
        return 100 * self.straight_through / checked if checked else None


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """Midnight to midnight, Japan time."""
    start = timezone.make_aware(datetime(day.year, day.month, day.day), timezone.get_current_timezone())
    return start, start + timedelta(days=1)


def day_digest(*, day: date) -> Digest:
    start, end = day_bounds(day)
    received = Order.objects.filter(created_at__gte=start, created_at__lt=end)
    delivered = received.exclude(status__in=NOT_DELIVERED)
    by_source = dict(received.order_by().values_list("source").annotate(n=Count("pk")))
    money = delivered.aggregate(orders=Count("pk"), total=Sum("total"))
    completed = Order.objects.filter(status=Order.Status.COMPLETED, status_changed_at__gte=start, status_changed_at__lt=end)
    completed_money = completed.aggregate(orders=Count("pk"), total=Sum("total"))
    hours = list(OrderRollup.objects.filter(span=OrderRollup.Span.HOUR, start__gte=start, start__lt=end).order_by("start"))
    completion = [0] * (len(COMPLETION_BOUNDS_SECONDS) + 1)
    for row in hours:
        completion = [a + b for a, b in zip(completion, row.completion_seconds or completion)]
    last_hour = hours[-1] if hours and hours[-1].start == end - timedelta(hours=1) else None
    products = _products(delivered)
    customers = _customers(delivered)
    return Digest(
        day=day,
        received=sum(by_source.values()),
        received_by_source=by_source,
        orders=money["orders"],
        total=money["total"] or 0,
        seats=sum(line.seats for line in products),
        completed=completed_money["orders"],
        completed_total=completed_money["total"] or 0,
        rejected=received.filter(status=Order.Status.REJECTED).count(),
        cancelled=received.filter(status=Order.Status.CANCELLED).count(),
        straight_through=sum(row.straight_through for row in hours),
        held=sum(row.held for row in hours),
        p50_seconds=completion_percentile(completion, 0.5),
        p95_seconds=completion_percentile(completion, 0.95),
        failed_during_day=sum(row.failed for row in hours),
        failed_now=Order.objects.filter(status=Order.Status.FAILED).count(),
        open_at_end=last_hour.open_at_end if last_hour else None,
        backlog_at_end=last_hour.needs_person_at_end if last_hour else None,
        products=products,
        customers=customers[:TOP_CUSTOMERS],
        other_customers=_together(customers[TOP_CUSTOMERS:]),
    )


def _products(orders) -> list[ProductLine]:
    rows = (
        OrderLine.objects.filter(order__in=orders.values("pk"))
        .order_by()
        .values("product")
        .annotate(orders=Count("order", distinct=True), seats=Sum("quantity"), amount=Sum("amount"))
    )
    products = Product.objects.in_bulk([row["product"] for row in rows])
    lines = [
        ProductLine(sku=products[row["product"]].sku, name_ja=products[row["product"]].name_ja, name_en=products[row["product"]].name_en,
                    orders=row["orders"], seats=row["seats"] or 0, amount=row["amount"] or 0)
        for row in rows
    ]  # fmt: skip
    return sorted(lines, key=lambda line: (-line.amount, line.sku))


def _customers(orders) -> list[CustomerLine]:
    totals = orders.order_by().values("customer", "customer__code", "customer__name").annotate(orders=Count("pk"), total=Sum("total"))
    seats = dict(
        OrderLine.objects.filter(order__in=orders.values("pk")).order_by().values_list("order__customer").annotate(seats=Sum("quantity"))
    )
    lines = [
        CustomerLine(code=row["customer__code"], name=row["customer__name"], orders=row["orders"],
                     seats=seats.get(row["customer"], 0) or 0, total=row["total"] or 0)
        for row in totals
    ]  # fmt: skip
    return sorted(lines, key=lambda line: (-line.total, line.code))


def _together(lines: list[CustomerLine]) -> CustomerLine | None:
    if not lines:
        return None
    return CustomerLine(code="", name="", orders=sum(line.orders for line in lines), seats=sum(line.seats for line in lines),
                        total=sum(line.total for line in lines))  # fmt: skip


# --- Sending -----------------------------------------------------------------------------


def digest_recipients() -> list[tuple[User, str]]:
    """Active managers with an e-mail address, each with the language they chose (Japanese unless English)."""
    managers = User.objects.filter(is_active=True, groups__name=MANAGER).exclude(email="").distinct().order_by("pk")
    chosen = dict(UserPreference.objects.filter(user__in=managers).values_list("user", "language"))
    return [(user, "en" if chosen.get(user.pk) == "en" else "ja") for user in managers]


def digest_message(*, digest: Digest, user: User, language: str) -> EmailMultiAlternatives:
    """The digest e-mail for one person, in `language`: a plain-text body and the same as HTML."""
    with translation.override(language):
        context = {"digest": digest, "user": user, "language": language, "site_url": settings.ORDERDESK_SITE_URL}
        subject = render_to_string("control/email/digest_subject.txt", context).strip()
        text = render_to_string("control/email/digest.txt", context)
        html = render_to_string("control/email/digest.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DIGEST_FROM_EMAIL, to=[user.email])
    message.attach_alternative(html, "text/html")
    return message


def digest_send(*, day: date, users: list[tuple[User, str]] | None = None, again: bool = False) -> int:
    """Mail the digest of `day` to the managers (or `users`); returns how many were sent.

    Each person gets each day's digest once: a delivery row is claimed before
    sending, and a second run (a redelivered message, beat restarted) finds it
    and skips that person. A failed send gives the claim back for the next run.
    `again` sends even if it was sent before (a manager asking for it on the page).
    """
    digest = day_digest(day=day)
    sent = 0
    for user, language in users if users is not None else digest_recipients():
        if not again and not _claim(day=day, user=user, language=language):
            continue
        try:
            digest_message(digest=digest, user=user, language=language).send()
        except Exception:
            logger.exception("the digest of %s could not be sent to %s", day, user.email)
            if not again:
                DigestDelivery.objects.filter(day=day, user=user).delete()
            continue
        sent += 1
    return sent


def _claim(*, day: date, user: User, language: str) -> bool:
    try:
        with transaction.atomic():
            DigestDelivery.objects.create(day=day, user=user, language=language)
    except IntegrityError:
        return False
    return True


def yesterday(now: datetime | None = None) -> date:
    return timezone.localdate(now or timezone.now()) - timedelta(days=1)
