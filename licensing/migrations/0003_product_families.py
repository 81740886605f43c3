"""Add-ons count against a family of base licenses (SRA: SRA-1Y and SRA-3Y), not one base product.

Existing products get the family their SKU names, without a trailing term
(SRA-1Y and SRA-3Y → SRA, RDA-1Y → RDA, VPN-LEGACY → VPN-LEGACY); an add-on
runs on the family of the base product it had.
"""

import re

import django.core.validators
from django.db import migrations, models

TERM_SUFFIX = re.compile(r"-\d+[YM]$")


def family_of(sku: str) -> str:
    return TERM_SUFFIX.sub("", sku) or sku


def set_families(apps, schema_editor):
    Product = apps.get_model("licensing", "Product")
    products = list(Product.objects.all())
    for product in products:
        product.family = family_of(product.sku)
    by_id = {product.pk: product for product in products}
    for product in products:
        if product.kind == "addon":
            base = by_id.get(product.base_product_id)
            product.base_family = base.family if base is not None else ""
            if not product.base_family:
                # An add-on without a base could exceed nothing; now it must run on a family.
                raise RuntimeError(f"add-on {product.sku} has no base product: set one before migrating")
        else:
            product.base_family = ""
    Product.objects.bulk_update(products, ["family", "base_family"])


def set_base_products(apps, schema_editor):
    Product = apps.get_model("licensing", "Product")
    for addon in Product.objects.filter(kind="addon"):
        base = Product.objects.filter(kind="base", family=addon.base_family).order_by("term_months", "sku").first()
        addon.base_product = base
        addon.save(update_fields=["base_product"])


class Migration(migrations.Migration):

    dependencies = [
        ("licensing", "0002_subscriptions_ledger_keys_work_hours"),
    ]

    operations = [
        migrations.AddField(
            model_name="product",
            name="family",
            field=models.CharField(default="", max_length=32, verbose_name="family"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="product",
            name="base_family",
            field=models.CharField(
                blank=True,
                help_text="Add-ons only: the family of base licenses this add-on runs on. The add-on family's seats, every term together, may never exceed that family's base seats.",
                max_length=32,
                verbose_name="base family",
            ),
        ),
        migrations.RunPython(set_families, set_base_products),
        migrations.RemoveField(model_name="product", name="base_product"),
        migrations.AlterField(
            model_name="product",
            name="family",
            field=models.CharField(
                help_text="The product line, the same for every term: SRA for SRA-1Y and SRA-3Y.",
                max_length=32,
                validators=[django.core.validators.RegexValidator("^[A-Z0-9-]+$", "Use capital letters, digits and -.")],
                verbose_name="family",
            ),
        ),
        migrations.AddConstraint(
            model_name="product",
            constraint=models.CheckConstraint(
                condition=models.Q(models.Q(("kind", "addon"), models.Q(("base_family", ""), _negated=True)), models.Q(("kind", "base"), ("base_family", "")), _connector="OR"),
                name="addon_has_base_family_base_has_none",
            ),
        ),
    ]
