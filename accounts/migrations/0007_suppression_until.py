from datetime import timedelta

from django.db import migrations, models

# As accounts/suppression.py decides from now on: only a complaint or an unsubscribe is for good.
FOR_GOOD = ("complained", "unsubscribed")


def pause_only_bounces(apps, schema_editor):
    """Rows a bounce made were for good until now: they end a day after they began."""
    SuppressedAddress = apps.get_model("accounts", "SuppressedAddress")
    for row in SuppressedAddress.objects.exclude(reason__in=FOR_GOOD).iterator():
        row.until = row.created_at + timedelta(days=1)
        row.save(update_fields=["until"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_sessions_deleted_by_the_database"),
    ]

    operations = [
        migrations.AddField(
            model_name="suppressedaddress",
            name="until",
            field=models.DateTimeField(blank=True, null=True, verbose_name="until"),
        ),
        migrations.RunPython(pause_only_bounces, migrations.RunPython.noop),
    ]
