"""Indexes built without stopping sign-ins, for migrations to share.

A plain CREATE INDEX blocks the table's writes, and with them every sign-in, until it is built.
On PostgreSQL the index is built CONCURRENTLY, outside a transaction (the migration sets
atomic = False); SQLite, the development default, has no such thing and no such table size.
"""

from django.db import models


def concurrently(*indexes: tuple[str, models.Index]):
    """RunPython's (forward, backward) for these (model name, index) pairs."""

    def build(apps, schema_editor):
        for name, index in indexes:
            model = apps.get_model("accounts", name)
            if schema_editor.connection.vendor != "postgresql":
                schema_editor.add_index(model, index)
                continue
            # A build cut short (a lock or statement timeout, a cancelled deploy) leaves an
            # INVALID index of that name: a second run must replace it, not take it for done.
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(
                    "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)",
                    [index.name],
                )
                found = cursor.fetchone()
            if found and found[0]:
                continue
            if found:
                schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{index.name}"')
            sql = str(index.create_sql(model, schema_editor))
            schema_editor.execute(sql.replace("CREATE INDEX", "CREATE INDEX CONCURRENTLY", 1))

    def drop(apps, schema_editor):
        for name, index in indexes:
            if schema_editor.connection.vendor == "postgresql":
                schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{index.name}"')
            else:
                schema_editor.remove_index(apps.get_model("accounts", name), index)

    return build, drop
