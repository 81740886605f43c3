"""OrderEvent takes the shared audit shape (orderdesk.audit.AuditEvent): an `action` code on every
row, statuses up to 20 characters, `reason` as text. Existing rows get the action their status
change or reason stood for."""

from django.db import migrations, models

# to_status → action, for rows that changed the status.
_ACTION_BY_TO_STATUS = {
    "received": "received",
    "validated": "validated",
    "approved": "approved",
    "needs_review": "held",
    "rejected": "rejected",
    "provisioning": "provisioning",
    "documenting": "provisioned",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
}
# reason → action, for rows that did not.
_ACTION_BY_REASON = {
    "claimed": "claimed",
    "claimed with Next": "claimed",
    "released": "released",
    "lines edited": "edited",
    "re-enqueued": "requeued",
}


def fill_actions(apps, schema_editor):
    OrderEvent = apps.get_model("orders", "OrderEvent")
    for to_status, action in _ACTION_BY_TO_STATUS.items():
        OrderEvent.objects.filter(to_status=to_status).update(action=action)
    # A failed order sent back to the pipeline by a person.
    OrderEvent.objects.filter(from_status="failed").exclude(to_status__in=["cancelled", ""]).update(action="retried")
    for reason, action in _ACTION_BY_REASON.items():
        OrderEvent.objects.filter(to_status="", reason=reason).update(action=action)


class Migration(migrations.Migration):
    dependencies = [("orders", "0007_indexes_new_orders_need_not_enter")]

    operations = [
        migrations.AddField(
            model_name="orderevent",
            name="action",
            field=models.CharField(default="", max_length=32, verbose_name="action"),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="orderevent",
            name="from_status",
            field=models.CharField(blank=True, max_length=20, verbose_name="from"),
        ),
        migrations.AlterField(
            model_name="orderevent",
            name="to_status",
            field=models.CharField(blank=True, max_length=20, verbose_name="to"),
        ),
        migrations.AlterField(
            model_name="orderevent",
            name="reason",
            field=models.TextField(blank=True, verbose_name="reason"),
        ),
        migrations.RunPython(fill_actions, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="orderevent",
            name="action",
            field=models.CharField(
                choices=[
                    ("received", "Received"), ("validated", "Rules checked"), ("approved", "Approved"),
                    ("held", "Held for review"), ("rejected", "Rejected"), ("provisioning", "Provisioning started"),
                    ("provisioned", "Seats provisioned"), ("completed", "Quote PDF issued, completed"),
                    ("failed", "Failed"), ("retried", "Retried"), ("cancelled", "Cancelled"), ("claimed", "Claimed"),
                    ("released", "Released"), ("edited", "Lines edited"), ("requeued", "Re-enqueued"),
                ],
                max_length=32,
                verbose_name="action",
            ),
        ),
    ]
