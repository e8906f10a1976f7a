"""A sign-in email's row is its own queue (accounts/mail/delivery.py): when it is due, since when
a courier has it, and an index of the emails still owed, which a sweep reads once a minute.

Rows still owed when this runs are due at once: the next sweep sends them (tasks queued for
them before, still in django-tasks-db's table, find them claimed or sent: one email each).
The index is built CONCURRENTLY on PostgreSQL (accounts/migrations/_concurrently.py): the table
holds eight days of sign-in emails.
"""

import django.utils.timezone
from django.db import migrations, models

from accounts.migrations._concurrently import concurrently

OWED = models.Index(
    condition=models.Q(status__in=["queued", "retrying"]),
    fields=["due_at"],
    name="signinemail_owed_due",
)


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("accounts", "0014_funnel_indexes")]

    operations = [
        migrations.AddField(
            model_name="signinemail",
            name="claimed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="signinemail",
            name="due_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="signinemail", index=OWED)],
            database_operations=[migrations.RunPython(*concurrently(("SignInEmail", OWED)))],
        ),
    ]
