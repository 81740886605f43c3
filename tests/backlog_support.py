"""Staff users and held orders for the backlog tests (imported by tests/test_backlog_*.py)."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from licensing.pricing import LineAmount, document_totals, product_unit_price
from orders.models import Order, OrderEvent, OrderLine, ReviewReason
from tests.factories import OrderFactory

PASSWORD = "pw-for-tests"


def make_staff(username: str, *roles: str, password: str | None = None) -> User:
    """A staff user with roles. Without a password it signs in with force_login (hashing is slow)."""
    user = User.objects.create_user(username=username, password=password)
    for role in roles:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def held_order(
    customer,
    catalog,
    *,
    reasons=(ReviewReason.MANUAL_APPROVAL,),
    status=Order.Status.NEEDS_REVIEW,
    lines=(("SRA-1Y", 10),),
    age=timedelta(minutes=5),
    **extra,
) -> Order:
    """An order priced from the catalogue tiers, as the pipeline would have held it."""
    created = timezone.now() - age
    order = OrderFactory(
        customer=customer, status=status, review_reasons=list(reasons), created_at=created, status_changed_at=created, **extra
    )
    amounts = []
    for position, (sku, quantity) in enumerate(lines, start=1):
        product = catalog[sku]
        unit_price = product_unit_price(product, quantity)
        OrderLine.objects.create(
            order=order, position=position, product=product, sku=sku, product_name=product.name_ja, unit=product.unit,
            quantity=quantity, unit_price=unit_price, amount=unit_price * quantity, tax_rate=product.tax_rate,
        )  # fmt: skip
        amounts.append(LineAmount(amount=unit_price * quantity, tax_rate=product.tax_rate))
    totals = document_totals(amounts)
    Order.objects.filter(pk=order.pk).update(subtotal=totals.subtotal, tax=totals.tax, total=totals.total)
    _timeline(order, created)
    order.refresh_from_db()
    return order


def _timeline(order: Order, created) -> None:
    """The events the API and the pipeline would have written on the way to the order's status."""
    OrderEvent.objects.create(order=order, created_at=created, actor_label=f"api:{order.customer.code}", to_status="received", reason="order received")
    if order.status != Order.Status.RECEIVED:
        OrderEvent.objects.create(
            order=order, created_at=created + timedelta(seconds=1), actor_label="pipeline", from_status="received",
            to_status=order.status, reason=", ".join(order.review_reasons) or "moved on",
        )  # fmt: skip


@pytest.fixture
def order_desk(db):
    return make_staff("tanaka", "order_desk")


@pytest.fixture
def manager(db):
    return make_staff("suzuki", "manager")


@pytest.fixture
def helper(db):
    return make_staff("sato", "helper")


@pytest.fixture
def sales(db):
    return make_staff("takahashi", "sales")


def signed_in(client, user):
    client.force_login(user)
    return client
