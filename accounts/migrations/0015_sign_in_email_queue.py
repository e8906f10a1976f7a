"""A sign-in email's row is its own queue (accounts/mail/sign_in_email.py): when it is due, since
when a courier has it, and which courier.

fly's deploy migrates first, then replaces machines one at a time: until then the last release
inserts rows without these columns, and its courier sends them at once with its own task, which
knows nothing of claims. So the database has defaults of its own (our inserts always name every
column) that make such a row due, and already claimed by "last-release": a new machine's sweep
leaves it to the machine sending it, or takes it over five minutes later if that machine went
away; a task of the last release run on a new machine takes it at once (accounts/mail/
delivery.py). Rows still owed when this runs are due and free: the next sweep sends them, and
their tasks find them sent. Remove the claim's defaults after 2026-12-20, with that task.

Adding the columns needs a moment's exclusive lock on the table. Behind a long transaction (a
report, a dump) it would wait, and every sign-in would queue behind it: it gives up after
LOCK_WAIT instead, the deploy fails and can run again, which a stalled sign-in cannot. The
index comes in the next migration, built CONCURRENTLY: so that a build cut short leaves this
one done, not half done.
"""

import django.db.models.functions.datetime
import django.utils.timezone
from django.db import migrations, models

LOCK_WAIT = "3s"


def wait_briefly_for_locks(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'")


def claimed_by_the_last_release(apps, schema_editor):
    """Defaults for the last release's inserts only (SQLite, for development, has no deploys)."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE accounts_signinemail "
            "ALTER COLUMN claimed_at SET DEFAULT now(), "
            "ALTER COLUMN claimed_by SET DEFAULT 'last-release'"
        )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0014_funnel_indexes")]

    operations = [
        migrations.RunPython(wait_briefly_for_locks, migrations.RunPython.noop),
        migrations.AddField(
            model_name="signinemail",
            name="claimed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="signinemail",
            name="claimed_by",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.AddField(
            model_name="signinemail",
            name="due_at",
            field=models.DateTimeField(
                db_default=django.db.models.functions.datetime.Now(),
                default=django.utils.timezone.now,
            ),
        ),
        migrations.RunPython(claimed_by_the_last_release, migrations.RunPython.noop),
    ]
