"""The funnel's indexes, built without stopping sign-ins: sign-in events by (kind, at), and
sign-in emails by (address, sent_at).

The events table holds ninety days of every kind, the emails table a busy day: both are built
CONCURRENTLY on PostgreSQL (accounts/migrations/_concurrently.py), hence atomic = False.
"""

from django.db import migrations, models

from accounts.migrations._concurrently import concurrently

EVENTS = models.Index(fields=["kind", "at"], name="signinevent_kind_at")
EMAILS = models.Index(fields=["address", "-sent_at"], name="signinemail_address_sent")
build, drop = concurrently(("SignInEvent", EVENTS), ("SignInEmail", EMAILS))


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("accounts", "0013_funnel_domains")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(model_name="signinevent", index=EVENTS),
                migrations.AddIndex(model_name="signinemail", index=EMAILS),
            ],
            database_operations=[migrations.RunPython(build, drop)],
        )
    ]
