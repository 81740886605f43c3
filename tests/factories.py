import datetime

import factory

from licensing.models import Customer, PriceTier, Product, Subscription, WorkHoursPolicy


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
    """A subscription without seats; add them with licensing.services.seats_provision."""

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
