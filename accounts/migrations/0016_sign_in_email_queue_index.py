"""The sign-in emails still owed, soonest first: what a courier's sweep and the health check
read. Built CONCURRENTLY on PostgreSQL (accounts/migrations/_concurrently.py), hence atomic =
False: the table holds eight days of sign-in emails. Run again after a build cut short, it
replaces the INVALID index the first run left.
"""

from django.db import migrations, models

from accounts.migrations._concurrently import concurrently

OWED = models.Index(
    condition=models.Q(status__in=["queued", "retrying"]),
    fields=["due_at"],
    name="signinemail_owed_due",
)


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("accounts", "0015_sign_in_email_queue")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="signinemail", index=OWED)],
            database_operations=[migrations.RunPython(*concurrently(("SignInEmail", OWED)))],
        )
    ]
