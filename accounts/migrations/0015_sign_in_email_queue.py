"""A sign-in email's row is its own queue (accounts/mail/sign_in_email.py): when it is due, since
when a courier has it, and which courier.

The new columns have database defaults as well as Django's: fly's deploy migrates first, then
replaces machines one at a time, and until then the last release inserts rows without them. Rows
still owed when this runs are due at once: the next sweep sends them (a task queued for them by
the last release finds them claimed or sent: one email each).

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
            field=models.CharField(blank=True, db_default="", max_length=40),
        ),
        migrations.AddField(
            model_name="signinemail",
            name="due_at",
            field=models.DateTimeField(
                db_default=django.db.models.functions.datetime.Now(),
                default=django.utils.timezone.now,
            ),
        ),
    ]
