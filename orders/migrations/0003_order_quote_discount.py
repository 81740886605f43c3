# Orders made from accepted quotes: the link to the quote and the whole-quote discount.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("orders", "0002_pipeline_documents_sweeper"),
        ("quotes", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="discount",
            field=models.PositiveBigIntegerField(default=0, verbose_name="discount"),
        ),
        migrations.AddField(
            model_name="order",
            name="quote",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="orders",
                to="quotes.quote",
                verbose_name="quote",
            ),
        ),
        migrations.AddConstraint(
            model_name="order",
            constraint=models.UniqueConstraint(fields=("quote",), name="one_order_per_quote"),
        ),
    ]
