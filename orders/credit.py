"""A customer's credit exposure: what it owes or is committed to. Computed here and nowhere else.

The credit rule (orders.rules.over_credit_limit), the release of credit holds
(orders.services.credit_holds), the order page's customer card and the hold
explanations all read it from `credit_exposures` / `credit_exposure`.

What counts:

- committed: orders approved or further along (approved, provisioning,
  documenting), and validated orders the rules found nothing against (the
  pipeline's next step approves them; counting them keeps two batches of one
  customer's surge from both spending the same credit);
- unpaid: completed orders still inside the payment terms. With 月末締め翌月末払い
  (ORDER_CREDIT_TERMS_MONTHS = 1) an order completed in November is invoiced at
  the end of November and paid at the end of December, so on any day of
  December the orders completed since 1 November are unpaid; from 1 January
  (Japan time) November's are paid and drop out;
- the order being judged, when it is not already among the above.

What does not count: orders not yet judged (received), orders waiting for a
person (needs_review: one held order must not push the customer's other orders
into the backlog), failed, rejected and cancelled orders, and completed orders
paid under the terms.
"""

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, time

from django.conf import settings
from django.db.models import Q, Sum, Value
from django.utils import timezone

from licensing.models import JAPAN, Customer
from licensing.services import add_months
from orders.models import Order

Status = Order.Status
COMMITTED_STATUSES = (Status.APPROVED, Status.PROVISIONING, Status.DOCUMENTING)


def committed_q() -> Q:
    """Orders the customer is committed to: approved or further along, or cleared by the rules and about to be approved."""
    return Q(status__in=COMMITTED_STATUSES) | Q(status=Status.VALIDATED, review_reasons=[])


def unpaid_q(since: datetime) -> Q:
    """Completed orders inside the payment terms. A completed order never moves again: status_changed_at is its completion."""
    return Q(status=Status.COMPLETED, status_changed_at__gte=since)


def unpaid_since(now: datetime | None = None) -> datetime:
    """The start of the payment terms' window: the first day of the month ORDER_CREDIT_TERMS_MONTHS ago, 0:00 Japan time."""
    today = timezone.localtime(now or timezone.now(), JAPAN).date()
    first = add_months(date(today.year, today.month, 1), -settings.ORDER_CREDIT_TERMS_MONTHS)
    return datetime.combine(first, time.min, tzinfo=JAPAN)


@dataclass(frozen=True)
class CreditExposure:
    """One customer's exposure against its limit, by what it is made of (integer yen, tax included)."""

    limit: int
    committed: int
    unpaid: int
    unpaid_since: datetime
    this_order: int = 0

    @property
    def total(self) -> int:
        return self.committed + self.unpaid + self.this_order

    @property
    def over_by(self) -> int:
        return max(0, self.total - self.limit)

    @property
    def fits(self) -> bool:
        return self.total <= self.limit

    @property
    def room_left(self) -> int:
        """How much more fits under the limit, this order included (0 when over)."""
        return max(0, self.limit - self.total)

    def plus_committed(self, amount: int) -> "CreditExposure":
        return replace(self, committed=self.committed + amount)

    def with_order(self, order: Order) -> "CreditExposure":
        """The exposure with `order` judged: its total added, unless one of the sums already holds it."""
        counted = order.status in COMMITTED_STATUSES or (order.status == Status.VALIDATED and not order.review_reasons)
        counted = counted or (order.status == Status.COMPLETED and order.status_changed_at >= self.unpaid_since)
        return replace(self, this_order=0 if counted else order.total)


def credit_exposures(*, customers: Iterable[Customer], now: datetime | None = None) -> dict[int, CreditExposure]:
    """customer id → its exposure without any order being judged, for many customers in one statement.

    Two sums in one UNION ALL, each walking its own index: the committed orders
    through the status index, the unpaid ones through order_customer_completed
    (the customer's completed orders by completion), so the months of completed
    orders of other customers are never read.
    """
    customers = {customer.pk: customer for customer in customers}
    since = unpaid_since(now)

    def sums(condition: Q, part: str):
        return (
            Order.objects.filter(condition, customer_id__in=list(customers))
            .order_by()
            .values("customer_id")
            .annotate(part=Value(part), amount=Sum("total"))
            .values_list("customer_id", "part", "amount")
        )

    parts: dict[int, dict[str, int]] = {customer_id: {} for customer_id in customers}
    for customer_id, part, amount in sums(committed_q(), "committed").union(sums(unpaid_q(since), "unpaid"), all=True):
        parts[customer_id][part] = amount or 0
    return {
        customer_id: CreditExposure(
            limit=customer.credit_limit,
            committed=parts[customer_id].get("committed", 0),
            unpaid=parts[customer_id].get("unpaid", 0),
            unpaid_since=since,
        )
        for customer_id, customer in customers.items()
    }


def credit_exposure(*, customer: Customer, order: Order | None = None, now: datetime | None = None) -> CreditExposure:
    """The customer's exposure, with `order` judged when given. One query."""
    exposure = credit_exposures(customers=[customer], now=now)[customer.pk]
    return exposure.with_order(order) if order is not None else exposure
