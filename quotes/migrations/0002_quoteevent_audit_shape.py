"""QuoteEvent takes the shared audit shape (orderdesk.audit.AuditEvent): `comment` is now `reason`,
as on orders, and `action` codes may be up to 32 characters."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("quotes", "0001_initial")]

    operations = [
        migrations.RenameField(model_name="quoteevent", old_name="comment", new_name="reason"),
        migrations.AlterField(
            model_name="quoteevent",
            name="reason",
            field=models.TextField(blank=True, verbose_name="reason"),
        ),
        migrations.AlterField(
            model_name="quoteevent",
            name="action",
            field=models.CharField(
                choices=[
                    ("created", "Created"), ("edited", "Edited"), ("submitted", "Submitted for approval"),
                    ("approved", "Approved"), ("returned", "Returned for changes"), ("sent", "Sent"),
                    ("emailed", "E-mail sent"), ("email_failed", "E-mail failed"), ("revised", "Revised"),
                    ("superseded", "Superseded"), ("accepted", "Accepted"), ("declined", "Declined"),
                    ("expired", "Expired"),
                ],
                max_length=32,
                verbose_name="action",
            ),
        ),
    ]
