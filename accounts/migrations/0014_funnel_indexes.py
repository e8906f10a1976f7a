"""The funnel's indexes, built without stopping sign-ins: sign-in events by (kind, at), and
sign-in emails by (address, sent_at).

The events table holds ninety days of every kind, the emails table a busy day; a plain CREATE
INDEX would block their writes, and with them every sign-in, until it is built. On PostgreSQL
they are built CONCURRENTLY, outside a transaction (hence atomic = False); SQLite, the
development default, has no such thing and no such table size.
"""

from django.db import migrations, models

EVENTS = models.Index(fields=["kind", "at"], name="signinevent_kind_at")
EMAILS = models.Index(fields=["address", "-sent_at"], name="signinemail_address_sent")
INDEXES = [("SignInEvent", EVENTS), ("SignInEmail", EMAILS)]


def build(apps, schema_editor):
    for name, index in INDEXES:
        model = apps.get_model("accounts", name)
        if schema_editor.connection.vendor != "postgresql":
            schema_editor.add_index(model, index)
            continue
        # A build cut short (a lock or statement timeout, a cancelled deploy) leaves an INVALID
        # index of that name: a second run must replace it, not take it for done.
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", [index.name]
            )
            found = cursor.fetchone()
        if found and found[0]:
            continue
        if found:
            schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{index.name}"')
        sql = str(index.create_sql(model, schema_editor))
        schema_editor.execute(sql.replace("CREATE INDEX", "CREATE INDEX CONCURRENTLY", 1))


def drop(apps, schema_editor):
    for name, index in INDEXES:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{index.name}"')
        else:
            schema_editor.remove_index(apps.get_model("accounts", name), index)


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
