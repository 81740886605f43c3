import datetime

import factory

from licensing.models import Customer, PriceTier, Product, Subscription, WorkHoursPolicy
from orders.models import Order, OrderLine, ReviewReason


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"CUST{n:04d}")
    name = factory.Sequence(lambda n: f"株式会社テスト{n}")
    honorific = Customer.Honorific.COMPANY
    billing_email = factory.LazyAttribute(lambda c: f"buyer@{c.code.lower()}.example.jp")
    credit_limit = 10_000_000


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ["sku"]

    sku = factory.Sequence(lambda n: f"SKU-{n}")
    family = factory.LazyAttribute(lambda product: product.sku)
    name_ja = "セキュアリモートアクセス 1年ライセンス"
    name_en = "Secure Remote Access, 1-year license"
    kind = Product.Kind.BASE
    term_months = 12


class PriceTierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PriceTier

    product = factory.SubFactory(ProductFactory)
    min_quantity = 1
    unit_price = 6000


class SubscriptionFactory(factory.django.DjangoModelFactory):
    """A subscription without seats; add them with `provision` below (the ledger service)."""

    class Meta:
        model = Subscription

    customer = factory.SubFactory(CustomerFactory)
    product = factory.SubFactory(ProductFactory)
    term_start = datetime.date(2026, 4, 1)
    term_end = datetime.date(2027, 3, 31)


class WorkHoursPolicyFactory(factory.django.DjangoModelFactory):
    """Mon–Fri 9:00–18:00 Asia/Tokyo, warn."""

    class Meta:
        model = WorkHoursPolicy

    customer = factory.SubFactory(CustomerFactory)
    mode = WorkHoursPolicy.Mode.WARN
    time_zone = "Asia/Tokyo"
    working_days = [1, 2, 3, 4, 5]
    start_time = datetime.time(9, 0)
    end_time = datetime.time(18, 0)


def staff_user(username: str, *roles: str, password: str = "pw-for-tests"):
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user(username=username, password=password)
    for role in roles:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def draft_quote(*, customer, lines, discount: int = 0, valid_until=None, user=None, notes: str = ""):
    """A draft through the real service. `lines`: [(product, quantity)] or [(product, quantity, percent, yen)]."""
    from orderdesk.audit import Actor
    from quotes.services.editing import quote_create
    from quotes.services.pricing import LineInput

    actor = Actor.staff(user) if user else Actor.system("tests")
    return quote_create(
        customer=customer,
        lines=[LineInput(*line) for line in lines],
        discount=discount,
        valid_until=valid_until,
        notes=notes,
        actor=actor,
    )


def sent_quote(**kwargs):
    """A draft that needs no approval, sent (its e-mail queued for the notifications worker: orderdesk.notifications.emails.email_send)."""
    from orderdesk.audit import Actor
    from quotes.services.workflow import quote_send

    quote = draft_quote(**kwargs)
    return quote_send(quote=quote, actor=Actor.system("tests"))


class OrderFactory(factory.django.DjangoModelFactory):
    """An order as the pipeline leaves it for a person: `needs_review` with one reason. Add lines with OrderLineFactory."""

    class Meta:
        model = Order

    number = factory.Sequence(lambda n: f"O-T-{n:06d}")
    customer = factory.SubFactory(CustomerFactory)
    po_number = factory.Sequence(lambda n: f"PO-T-{n:06d}")
    status = Order.Status.NEEDS_REVIEW
    review_reasons = factory.LazyFunction(lambda: [ReviewReason.MANUAL_APPROVAL])


class OrderLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderLine

    order = factory.SubFactory(OrderFactory)
    position = factory.Sequence(lambda n: n + 1)
    product = factory.SubFactory(ProductFactory)
    sku = factory.LazyAttribute(lambda line: line.product.sku)
    product_name = factory.LazyAttribute(lambda line: line.product.name_ja)
    unit = "ユーザー"
    quantity = 10
    unit_price = 6000
    amount = factory.LazyAttribute(lambda line: line.unit_price * line.quantity)
    tax_rate = 10


def submitted_order(customer, *, po_number="PO-2026-0412", lines=(("SRA-1Y", 50),), actor=None, **data):
    """An order through the one intake (orders.services.intake.order_submit), as the API submits it.

    `lines`: [(sku, quantity)]; `data`: further body fields (notes, requested_start).
    """
    from orderdesk.audit import Actor
    from orders.services.intake import order_submit

    return order_submit(
        customer=customer,
        data={"po_number": po_number, "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines], **data},
        actor=actor or Actor.system("tests"),
        source=Order.Source.API,
    )


def provision(customer, product, quantity: int, reference: str, *, term_start=None, reason: str = ""):
    """Seats of one line through the ledger service (licensing.services.seats_provision_batch): its Provisioned."""
    from licensing.services import CustomerSeats, SeatsRequest, seats_provision_batch

    request = SeatsRequest(product=product, quantity=quantity, reference=reference, reason=reason)
    return seats_provision_batch([CustomerSeats(customer=customer, requests=[request], term_start=term_start)])[0][0]
