import factory

from licensing.models import Customer, PriceTier, Product


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
