"""Orders placed at chosen moments, for the control room's tests (rollups, ETA, digest, feed)."""

from datetime import datetime, timedelta

from django.utils import timezone

from control.rollups import floor_time
from orders.models import Order, OrderLine
from tests.factories import OrderFactory


def minute_ago(now: datetime, minutes: int, seconds: int = 10) -> datetime:
    """`seconds` into the minute that began `minutes` whole minutes before now's."""
    return floor_time(now, 60) - timedelta(minutes=minutes) + timedelta(seconds=seconds)


def placed_order(customer, *, created: datetime, status=Order.Status.RECEIVED, changed: datetime | None = None,
                 reasons=(), source=Order.Source.API, lines=(), total: int = 0, **extra) -> Order:  # fmt: skip
    """An order that arrived at `created` and reached `status` at `changed` (default: when it arrived).

    `lines`: [(product, quantity, amount)], written as they are (the totals are `total`).
    """
    order = OrderFactory(customer=customer, status=status, review_reasons=list(reasons), source=source,
                         created_at=created, status_changed_at=changed or created, total=total, **extra)  # fmt: skip
    for position, (product, quantity, amount) in enumerate(lines, start=1):
        OrderLine.objects.create(order=order, position=position, product=product, sku=product.sku, product_name=product.name_ja,
                                 unit=product.unit, quantity=quantity, unit_price=amount // quantity, amount=amount, tax_rate=10)  # fmt: skip
    return order


def fixed_now() -> datetime:
    """Now, 30 seconds into its minute: crafted orders land in the minutes a test names."""
    return floor_time(timezone.now(), 60) + timedelta(seconds=30)
